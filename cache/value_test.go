package cache_test

import (
	"math"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

func TestParseTime(t *testing.T) {
	ms := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2024-05-01", ms("2024-05-01T00:00:00Z"), true},
		{"2024-05-01T09:30", ms("2024-05-01T09:30:00Z"), true},
		{"2024-05-01T09:30:15", ms("2024-05-01T09:30:15Z"), true},
		{"2024-05-01 09:30:15", ms("2024-05-01T09:30:15Z"), true},
		{"2024-05-01T09:30:15.123Z", ms("2024-05-01T09:30:15.123Z"), true},
		{"2024-05-01T09:30:15.1Z", ms("2024-05-01T09:30:15.100Z"), true},
		{"2024-05-01T09:30:15.123456789Z", ms("2024-05-01T09:30:15.123Z"), true},
		{"2024-05-01T09:30:15,5Z", ms("2024-05-01T09:30:15.500Z"), true},
		{"2024-05-01T09:30:15+02:00", ms("2024-05-01T07:30:15Z"), true},
		{"2024-05-01T09:30:15-0130", ms("2024-05-01T11:00:15Z"), true},
		{"2024-05-01T09:30:15+05", ms("2024-05-01T04:30:15Z"), true},
		{"2024-02-29", ms("2024-02-29T00:00:00Z"), true},
		{"1969-12-31T23:59:59.999Z", -1, true},
		{"0001-01-01", ms("0001-01-01T00:00:00Z"), true},
		{"2023-02-29", 0, false},
		{"2024-13-01", 0, false},
		{"2024-00-10", 0, false},
		{"2024-05-32", 0, false},
		{"2024-05-01T24:00", 0, false},
		{"2024-05-01T09:60", 0, false},
		{"2024-05-01T09:30:15.Z", 0, false},
		{"2024-05-01T09", 0, false},
		{"2024-05-01X09:30", 0, false},
		{"2024-5-1", 0, false},
		{"20240501", 0, false},
		{"05/01/2024", 0, false},
		{"2024-05-01T09:30:15+2", 0, false},
		{"2024-05-01T09:30:15Zjunk", 0, false},
		{"", 0, false},
		{"12345", 0, false},
	}
	for _, tt := range tests {
		got, ok := cache.ParseTime(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("ParseTime(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAppendTimeRoundTrip(t *testing.T) {
	for _, s := range []string{
		"2024-05-01T09:30:15.123Z", "1970-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z",
		"2000-02-29T12:00:00.000Z", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z",
	} {
		ms, ok := cache.ParseTime(s)
		if !ok {
			t.Fatalf("ParseTime(%q) failed", s)
		}
		if got := string(cache.AppendTime(nil, ms)); got != s {
			t.Errorf("AppendTime(ParseTime(%q)) = %q", s, got)
		}
		if want := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"); want != s {
			t.Errorf("time package disagrees for %q: %q", s, want)
		}
	}
}

func TestAppendNumber(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {12, "12"}, {-3.5, "-3.5"}, {24.9, "24.9"}, {1e21, "1e+21"}, {1e20, "100000000000000000000"},
		{0.000001, "0.000001"}, {0.0000001, "1e-7"}, {123456789012345, "123456789012345"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
	}
	for _, tt := range tests {
		if got := string(cache.AppendNumber(nil, tt.in)); got != tt.want {
			t.Errorf("AppendNumber(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestValueCompare(t *testing.T) {
	ordered := []cache.Value{
		cache.Null(), cache.Text(""), cache.Text("Text"), cache.Text("text"), cache.Text("é"),
		cache.Number(-1), cache.Number(0), cache.Number(2.5), cache.Bool(false), cache.Bool(true),
		cache.Time(-5), cache.Time(0), cache.Time(10),
	}
	for i, a := range ordered {
		for j, b := range ordered {
			got := a.Compare(b)
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
			if (i == j) != a.Equal(b) {
				t.Errorf("%v.Equal(%v) = %v", a, b, a.Equal(b))
			}
		}
	}
	if cache.Text("1").Equal(cache.Number(1)) {
		t.Error("values of different kinds must never be equal")
	}
}
