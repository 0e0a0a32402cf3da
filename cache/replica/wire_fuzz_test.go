package replica_test

import (
	"testing"

	"github.com/sheetsync/sheetsync/cache/replica"
)

// FuzzDecodeChange feeds DecodeChange arbitrary bytes: it must never panic, every failure must
// be a FormatError or a VersionError, and whatever decodes must survive its own round trip
// (checkDecodes). The seeds are valid encodings of every kind of change, some cut short and
// some with a byte changed; crashers found are kept in testdata/fuzz/FuzzDecodeChange.
func FuzzDecodeChange(f *testing.F) {
	var seeds [][]byte
	for _, tt := range roundTripCases(f) {
		b, err := replica.EncodeChange(tt.cs)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 1<<12 { // the mutator does best with small inputs
			seeds = append(seeds, b)
		}
	}
	for seed := range uint64(100) {
		cs := newGen(seed).change()
		b, err := replica.EncodeChange(cs)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 1<<12 {
			seeds = append(seeds, b)
		}
	}
	for i, b := range seeds {
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-1])
		m := append([]byte(nil), b...)
		m[(i*7919)%len(m)] ^= 0x80
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodes(t, b)
	})
}
