package replica_test

import (
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache/replica"
)

// Hand-made messages, spelled the way docs/wire-format.md lays them out.
func uv(x uint64) string  { return string(binary.AppendUvarint(nil, x)) }
func str(s string) string { return uv(uint64(len(s))) + s }
func u64(x int) string    { return string(binary.LittleEndian.AppendUint64(nil, uint64(x))) }

// msg is a version 1 change of collection "c" with the given flags and the parts after them.
func msg(flags byte, rest string) []byte {
	return []byte("SSCS" + uv(1) + str("c") + "\x00" + str("") + str("") + uv(0) + string(flags) + rest)
}

const noLists = "\x00\x00\x00\x00" // remove, key table, update, insert: all empty

// column is a size-prefixed column payload.
func column(payload string) string { return u64(len(payload)) + payload }

// table is a replace table of one field of type typ with n rows and the given column payload.
func table(typ byte, n int, payload string) string {
	return uv(1) + str("f") + string(typ) + "\x00" + str("") + uv(uint64(n)) + column(payload)
}

func TestDecodeErrors(t *testing.T) {
	const (
		text, number, boolean, datetime = 1, 2, 3, 4
		replace, schema                 = 4, 8
	)
	tests := []struct {
		name    string
		in      []byte
		want    string
		version bool // a *VersionError, not a *FormatError
	}{
		{"ErrEmpty", nil, "not a sheetsync change", false},
		{"ErrShort", []byte("SSC"), "not a sheetsync change", false},
		{"ErrMagic", []byte("PK\x03\x04 a zip file"), `not a sheetsync change: starts with "PK\x03\x04"`, false},
		{"ErrNoVersion", []byte("SSCS"), "version: message ends early", false},
		{"ErrNewerVersion", []byte("SSCS\x02whatever follows"), "change wire version 2 is newer than this build reads (1 to 1): upgrade this replica", true},
		{"ErrVersionZero", []byte("SSCS\x00"), "change wire version 0 is not one this build reads", true},
		{"ErrVersionBig", []byte("SSCS" + uv(300)), "change wire version 300", true},
		{"ErrTrailing", append(msg(0, noLists), 'x'), "1 bytes after the end of the change", false},
		{"ErrFlags", msg(0x30, noLists), "flags: unknown bits 0x30", false},
		{"ErrOriginKind", []byte("SSCS\x01" + str("c") + "\x07"), "origin kind: unknown 7", false},
		{"ErrCollectionLength", []byte("SSCS\x01" + uv(1<<40) + "c"), "byte 5: collection: 1099511627776 bytes long, 1 left", false},
		{"ErrVarint", []byte("SSCS\x01" + strings.Repeat("\xff", 11)), "varint longer than 64 bits", false},
		{"ErrRemoveCount", msg(0, uv(1000)+"\x00"), "remove count: 1000 cannot fit", false},
		{"ErrKeyOrder", msg(0, "\x00"+uv(2)+str("b")+str("a")+"\x00\x00"), `key table: "a" after "b"`, false},
		{"ErrKeyDuplicate", msg(0, "\x00"+uv(2)+str("a")+str("a")+"\x00\x00"), `key table: "a" after "a"`, false},
		{"ErrKeyIndex", msg(0, "\x00"+uv(1)+str("a")+uv(1)+uv(1)+uv(1)+"\x00"+"\x00"), "update item 0: byte 18: key index 1: want one above -1 and below 1", false},
		{"ErrFieldTwice", msg(0, "\x00"+uv(2)+str("a")+str("b")+"\x00"+uv(1)+uv(2)+uv(1)+"\x00"+uv(1)+"\x00"), "insert item 0: byte 23: key index 1: want one above 1 and below 2", false},
		{"ErrValueTag", msg(0, "\x00"+uv(1)+str("a")+uv(1)+uv(1)+uv(0)+"\x09"+"\x00"), `update item 0: field "a": byte 19: value tag: unknown 9`, false},
		{"ErrValueShort", msg(0, "\x00"+uv(1)+str("a")+uv(1)+uv(1)+uv(0)+"\x02\x00\x00"), `field "a": byte 20: number: needs 8 bytes, 2 left`, false},
		{"ErrSchemaType", msg(schema, uv(1)+str("f")+"\x09\x00"+str("")+noLists), "schema: field 0: byte 15: type: unknown 9", false},
		{"ErrSchemaFlags", msg(schema, uv(1)+str("f")+"\x01\x04"+str("")+noLists), "schema: field 0: byte 16: flags: unknown bits 0x4", false},
		{"ErrSchemaInvalid", msg(schema, uv(2)+str("f")+"\x01\x00"+str("")+str("f")+"\x02\x00"+str("")+noLists), "invalid schema: field f: duplicate field key", false},
		{"ErrSchemaSystemType", msg(schema, uv(1)+str("_id")+"\x02\x00"+str("")+noLists), "invalid schema: field _id: system field must be text", false},
		{"ErrFieldCount", msg(schema, uv(100)+noLists), "field count: 100 cannot fit", false},
		{"ErrRowsWithoutFields", msg(replace, uv(0)+uv(5)+noLists), "row count: 5 rows in a table of no fields", false},
		{"ErrRowLimit", msg(replace, uv(1)+str("f")+"\x01\x00"+str("")+uv(1<<31)+noLists), "row count: 2147483648 is over the limit", false},
		{"ErrColumnSize", msg(replace, uv(1)+str("f")+"\x01\x00"+str("")+uv(1)+u64(1000)+noLists), "column size: 1000 bytes", false},
		{"ErrColumnShort", msg(replace, uv(1)+str("f")+"\x01\x00"+str("")+uv(1)+"\x00\x00"), "column size: needs 8 bytes", false},
		{"ErrPresenceMode", msg(replace, table(text, 1, "\x05")+noLists), `replace table: field "f": byte 27: presence: unknown mode 5`, false},
		{"ErrPresencePastEnd", msg(replace, table(text, 3, "\x01\x09")+noLists), "presence bitmap: bits set past the last of 3 cells", false},
		{"ErrAllPresentTooFew", msg(replace, table(boolean, 100, "\x00\x01")+noLists), "presence: 100 present cells cannot fit in the 1 bytes left", false},
		{"ErrBoolPastEnd", msg(replace, table(boolean, 3, "\x00\x0f")+noLists), "boolean values: bits set past the last of 3 cells", false},
		{"ErrTextLength", msg(replace, table(text, 2, "\x00"+uv(1)+uv(5)+"abc")+noLists), "byte 29: text length: 5 bytes, at most 2 left for it", false},
		{"ErrTextLeftOver", msg(replace, table(text, 1, "\x00"+uv(1)+"ab")+noLists), "1 bytes left over at the end of the column", false},
		{"ErrBlockMode", msg(replace, table(number, 1, "\x00\x07")+noLists), "block 0: byte 28: block encoding: unknown 7", false},
		{"ErrScale", msg(replace, table(number, 1, "\x00\x01\x17\x02")+noLists), "decimal scale: 23 is over 22", false},
		{"ErrTimeUnit", msg(replace, table(datetime, 1, "\x00\x01\x05\x02")+noLists), "time unit: unknown 5", false},
		{"ErrRawShort", msg(replace, table(datetime, 2, "\x00\x00"+u64(1))+noLists), "datetimes: needs 16 bytes, 8 left", false},
		{"ErrDeltasShort", msg(replace, table(number, 16, "\x00\x01\x00\x02")+noLists), "deltas: 16 cannot fit in the 1 bytes left", false},
		{"ErrSecondBlock", msg(replace, table(number, 4097, "\x00\x00"+strings.Repeat(u64(0), 4096)+"\x09"+u64(0))+noLists), "block 1: byte 32798: block encoding: unknown 9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := replica.DecodeChange(tt.in)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", cs)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want one containing %q", err, tt.want)
			}
			var ve *replica.VersionError
			var fe *replica.FormatError
			if got := errors.As(err, &ve); got != tt.version {
				t.Fatalf("error %q is a VersionError: %v, want %v", err, got, tt.version)
			}
			if got := errors.As(err, &fe); got == tt.version {
				t.Fatalf("error %q is a FormatError: %v, want %v", err, got, !tt.version)
			}
		})
	}
}

// TestDecodeTruncated cuts every encoding of the round-trip cases at every byte: each prefix
// is an error, never a panic and never a change.
func TestDecodeTruncated(t *testing.T) {
	for _, tt := range roundTripCases(t) {
		b, err := replica.EncodeChange(tt.cs)
		if err != nil {
			t.Fatal(err)
		}
		step := max(1, len(b)/2000) // the big case: a sample of cuts
		for n := 0; n < len(b); n += step {
			if _, err := replica.DecodeChange(b[:n]); err == nil {
				t.Fatalf("%s: the first %d of %d bytes decode", tt.name, n, len(b))
			} else if !isWireError(err) {
				t.Fatalf("%s: cut at %d: %v is not a FormatError", tt.name, n, err)
			}
		}
	}
}

// TestDecodeMutated changes every byte of the small encodings to a few telling values: what
// still decodes must be a change that survives its own round trip.
func TestDecodeMutated(t *testing.T) {
	for _, tt := range roundTripCases(t) {
		b, err := replica.EncodeChange(tt.cs)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 4096 {
			continue
		}
		for i := range b {
			for _, v := range []byte{0, 1, 2, 0x7f, 0x80, 0xff, b[i] ^ 1, b[i] + 1} {
				m := append([]byte(nil), b...)
				m[i] = v
				checkDecodes(t, m)
			}
		}
	}
}

func isWireError(err error) bool {
	var fe *replica.FormatError
	var ve *replica.VersionError
	return errors.As(err, &fe) || errors.As(err, &ve)
}

// checkDecodes is the fuzz property: a message either fails with a wire error, or decodes to a
// change that encodes, and decodes again to the same change and the same bytes.
func checkDecodes(tb testing.TB, b []byte) {
	tb.Helper()
	cs, err := replica.DecodeChange(b)
	if err != nil {
		if !isWireError(err) {
			tb.Fatalf("%x: error %v is neither a FormatError nor a VersionError", b, err)
		}
		return
	}
	again, err := replica.EncodeChange(cs)
	if err != nil {
		tb.Fatalf("%x: decodes, but does not encode again: %v", b, err)
	}
	cs2, err := replica.DecodeChange(again)
	if err != nil {
		tb.Fatalf("%x: decodes, but its encoding does not: %v", b, err)
	}
	if d := diffChange(cs2, cs); d != "" {
		tb.Fatalf("%x: decodes, but not to the same change after a round trip: %s", b, d)
	}
	if third, err := replica.EncodeChange(cs2); err != nil || string(third) != string(again) {
		tb.Fatalf("%x: encoding is not stable over a round trip (%v)", b, err)
	}
}

// TestDecodeAllocation holds decoding to allocations in proportion to the message, on messages
// made to get the most out of few bytes: a million cells described by a bitmap with one bit
// per chunk, a million empty items or ids. The bound, 80 times the message, is what
// docs/wire-format.md promises ("Hostile input"); a fixed claim such as "a billion rows"
// without the bytes to back it is refused before anything is allocated (TestDecodeErrors).
func TestDecodeAllocation(t *testing.T) {
	const n = 1 << 20
	sparse := make([]byte, n/8) // one present cell per 4096
	for i := 0; i < len(sparse); i += 512 {
		sparse[i] = 1
	}
	deltaBlocks := strings.Repeat("\x01\x00\x00", n/4096) // scale 0, one delta of 0
	tests := []struct {
		name string
		in   []byte
	}{
		{"sparse numbers", msg(4, table(2, n, "\x01"+string(sparse)+deltaBlocks)+noLists)},
		{"sparse datetimes", msg(4, table(4, n, "\x01"+string(sparse)+deltaBlocks)+noLists)},
		{"sparse text", msg(4, table(1, n, "\x01"+string(sparse)+strings.Repeat("\x00", n/4096))+noLists)},
		{"empty text", msg(4, table(1, n, "\x01"+strings.Repeat("\x00", n/8))+noLists)},
		{"booleans", msg(4, table(3, n, "\x00"+strings.Repeat("\x55", n/8))+noLists)},
		{"empty items", msg(0, "\x00\x00"+uv(n)+strings.Repeat("\x00", n)+"\x00")},
		{"empty ids", msg(0, uv(n)+strings.Repeat("\x00", n)+"\x00\x00\x00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			least := ^uint64(0)
			for range 3 { // the least of three, in case something else allocated meanwhile
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				before := ms.TotalAlloc
				if _, err := replica.DecodeChange(tt.in); err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&ms)
				least = min(least, ms.TotalAlloc-before)
			}
			if limit := 80 * uint64(len(tt.in)); least > limit {
				t.Errorf("%d bytes allocated for a message of %d, want at most %d", least, len(tt.in), limit)
			}
		})
	}
}
