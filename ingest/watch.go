package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// createSettle is how long a file that appeared by a rename (an atomic save, how most editors
// and sheetsync itself write) waits before it is read: long enough to see whether writes follow
// (then it is a file being written, which waits the full debounce), short enough that an atomic
// save shows within milliseconds.
const createSettle = 5 * time.Millisecond

// maxRetries bounds how long a file that keeps changing under sheetsync is waited for, in
// debounce periods, before it is read as it is.
const maxRetries = 600

// watcher turns events in the folder into syncs: fsnotify events, debounced per file; a periodic
// rescan for what a file system does not report (network shares, sync clients); and a few
// workers that read the files. All scheduling state belongs to run's goroutine; others ask it to
// schedule through requests.
type watcher struct {
	f        *Folder
	fsw      *fsnotify.Watcher
	dir      string
	requests chan job
	paused   atomic.Bool // tests: drop events, as a file system that misses them would
}

// job is a file to sync: after delay, fresh when it appeared by a rename.
type job struct {
	name  string
	delay time.Duration
	fresh bool
}

type finished struct {
	name   string
	result syncResult
}

func newWatcher(f *Folder) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", f.Dir, err)
	}
	if err := fsw.Add(f.Dir); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("watch %s: %w", f.Dir, err)
	}
	return &watcher{f: f, fsw: fsw, dir: filepath.Clean(f.Dir), requests: make(chan job, 4096)}, nil
}

func (w *watcher) close() error { return w.fsw.Close() }

// schedule asks for a sync of a file after delay. When the queue is full the request is dropped:
// the rescan catches the file later.
func (w *watcher) schedule(name string, delay time.Duration, fresh bool) {
	select {
	case w.requests <- job{name: name, delay: delay, fresh: fresh}:
	default:
	}
}

// run watches until ctx ends, then waits for the syncs in progress.
func (w *watcher) run(ctx context.Context) {
	f := w.f
	workers := f.Workers
	if workers <= 0 {
		workers = 2
	}
	work := make(chan job, 256)
	done := make(chan finished, cap(work)+workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				done <- finished{j.name, f.syncFile(ctx, j.name, j.fresh)}
			}
		}()
	}
	defer wg.Wait()
	defer close(work)

	waiting := map[string]job{} // delay holds the due time since the epoch
	again := map[string]job{}   // events for files being read
	busy := map[string]bool{}
	retries := map[string]int{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var rescan <-chan time.Time
	if f.Rescan > 0 {
		t := time.NewTicker(f.Rescan)
		defer t.Stop()
		rescan = t.C
	}
	add := func(name string, delay time.Duration, fresh bool) {
		due := time.Duration(time.Now().Add(delay).UnixNano())
		if busy[name] {
			fresh = fresh && (again[name].name == "" || again[name].fresh)
			again[name] = job{name: name, delay: due, fresh: fresh}
			return
		}
		if prev, ok := waiting[name]; ok {
			fresh = fresh && prev.fresh // a write after the rename: the file is being written
		}
		waiting[name] = job{name: name, delay: due, fresh: fresh}
	}
	arm := func() {
		var first time.Duration
		for _, j := range waiting {
			if !busy[j.name] && (first == 0 || j.delay < first) {
				first = j.delay
			}
		}
		if first != 0 {
			timer.Reset(max(0, time.Until(time.Unix(0, int64(first)))))
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if name, watched := w.watched(ev.Name); watched && !w.paused.Load() {
				if ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) {
					add(name, createSettle, true)
				} else {
					add(name, f.Debounce, false)
				}
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			f.logger().Warn("file events lost; rescanning the folder", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.rescan(add)
			}
		case r := <-w.requests:
			add(r.name, r.delay, r.fresh)
		case <-rescan:
			w.rescan(add)
		case <-timer.C:
			now := time.Duration(time.Now().UnixNano())
			for name, j := range waiting {
				if j.delay <= now && !busy[name] && len(work) < cap(work) {
					delete(waiting, name)
					busy[name] = true
					work <- j
				}
			}
		case d := <-done:
			delete(busy, d.name)
			if d.result == syncRetry && retries[d.name] < maxRetries {
				retries[d.name]++
				add(d.name, f.Debounce, false)
			} else {
				delete(retries, d.name)
			}
			if j, ok := again[d.name]; ok {
				delete(again, d.name)
				add(d.name, max(0, time.Until(time.Unix(0, int64(j.delay)))), j.fresh)
			}
		}
		arm()
	}
}

// watched returns the file name of an event's path when it is a spreadsheet directly in the
// folder.
func (w *watcher) watched(path string) (string, bool) {
	if filepath.Dir(filepath.Clean(path)) != w.dir {
		return "", false
	}
	name := filepath.Base(path)
	_, ok := FormatOf(name)
	return name, ok
}

// rescan compares the folder with what was last synced and schedules every file that is new,
// changed or gone, for file systems that do not report every event.
func (w *watcher) rescan(add func(string, time.Duration, bool)) {
	f := w.f
	names, err := spreadsheetNames(f.Dir)
	if err != nil {
		f.logger().Error("cannot rescan the folder", "err", err)
		return
	}
	present := map[string]bool{}
	for _, name := range names {
		present[name] = true
		fi, err := os.Stat(filepath.Join(f.Dir, name))
		if err != nil {
			continue
		}
		if !f.unchanged(name, fi) {
			add(name, 0, false)
		}
	}
	f.mu.Lock()
	var gone []string
	for name := range f.files {
		if !present[name] {
			gone = append(gone, name)
		}
	}
	f.mu.Unlock()
	for _, name := range gone {
		add(name, 0, false)
	}
}
