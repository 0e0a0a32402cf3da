package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// findChromium returns the path of a Chromium or Chrome in PATH, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestStatusPage_Browser opens the status page of a served copy of the samples, plus a broken
// CSV, in headless Chromium at a laptop's size and a phone's: the page shows every collection
// and the problem with its file and row, and nothing is wider than a phone's screen. The
// screenshots go to the test's temp dir, and to $SHEETSYNC_SCREENSHOTS when it names a folder.
func TestStatusPage_Browser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium := findChromium()
	if chromium == "" {
		t.Skip("no Chromium: none of chromium, chromium-browser, google-chrome is in PATH (apt-get install chromium)")
	}
	dir := copySamples(t)
	broken := filepath.Join(dir, "broken.csv")
	if err := os.WriteFile(broken, []byte("name,price\nrake,12\n\"unterminated,3\nhoe,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// saved a while ago: a file written moments ago is given time to be finished before it is
	// called broken
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(broken, old, old); err != nil {
		t.Fatal(err)
	}
	m := MustRunMain(t, dir, func(c *Config) { c.Replica = "laptop-1" })
	url := m.Server.URL()

	// an API write, so that products.csv shows a write-back
	if code, body := post(t, url+"/v3/items/insert", `{"collectionId": "products", "items": [{"_id": "rake-1", "name": "Garden Rake", "price": 12.5}]}`); code != http.StatusOK {
		t.Fatalf("insert: %d %v", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !writtenBack(m, "products.csv") {
		if time.Now().After(deadline) {
			t.Fatal("products.csv shows no write-back 10s after an insert")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := m.Folder.Problems(); len(p) != 1 || p[0].Row != 3 {
		t.Fatalf("problems: %v, want broken.csv row 3", p)
	}

	shots := []string{t.TempDir()}
	if d := os.Getenv("SHEETSYNC_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		shots = append(shots, d)
	}

	// the browser lives as long as ctx: this bounds the whole test, launch included
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.DisableGPU)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	ctx, cancel = chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chromium, err)
	}

	for _, size := range []struct {
		name          string
		width, height int64
		phone         bool
	}{
		{"laptop", 1280, 800, false},
		{"phone", 390, 844, true},
	} {
		t.Run(size.name, func(t *testing.T) {
			step, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			viewport := chromedp.EmulateViewport(size.width, size.height)
			if size.phone {
				viewport = chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch)
			}
			if err := chromedp.Do(step, viewport, chromedp.Navigate(url+"/"), chromedp.WaitVisible("#problems")); err != nil {
				t.Fatal(err)
			}
			text, err := chromedp.Run(step, chromedp.Text("body"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"laptop-1", "ready", "products", "stores", "stores-Staff", "products.csv", "stores.xlsx",
				"Staff", "read-write", "What is wrong", "broken.csv", "opening quote has no closing quote", "not served until it can be read",
				"embedded server", "NOT authenticated"} {
				if !strings.Contains(text, want) {
					t.Errorf("the page lacks %q:\n%s", want, text)
				}
			}
			problem, err := chromedp.Run(step, chromedp.Text("#problems tbody tr"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(problem, "broken.csv") || !strings.Contains(problem, "3") {
				t.Errorf("the problem row lacks the file and its row 3: %q", problem)
			}
			written, err := chromedp.Run(step, chromedp.Evaluate[string](
				`[...document.querySelectorAll("#collections tbody tr")].find(tr => tr.cells[0].innerText == "products").cells[6].innerText`))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(written, "ago") {
				t.Errorf("products shows no write-back: %q", written)
			}
			// with every list of fields opened, the widest the page gets
			if _, err := chromedp.Run(step, chromedp.Evaluate[int](`document.querySelectorAll("details").forEach(d => d.open = true), 0`)); err != nil {
				t.Fatal(err)
			}
			widths, err := chromedp.Run(step, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
			if err != nil {
				t.Fatal(err)
			}
			if widths[0] > widths[1] {
				t.Errorf("the page is %dpx wide in a %dpx window: it scrolls sideways", widths[0], widths[1])
			}
			png, err := chromedp.Run(step, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range shots {
				p := filepath.Join(d, "status-"+size.name+".png")
				if err := os.WriteFile(p, png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot: %s", p)
			}
		})
	}
}

// writtenBack reports whether the status page would show a write-back of the file.
func writtenBack(m *Main, file string) bool {
	for _, f := range m.status().Files {
		if f.Name == file {
			return !f.Written.IsZero()
		}
	}
	return false
}
