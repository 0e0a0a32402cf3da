package replica

import (
	"encoding/binary"
	"fmt"

	"github.com/sheetsync/sheetsync/cache"
)

// The wire encoding of a cache.ChangeSet is what the log carries: every replica decodes the same
// bytes and applies the same change, so the encoding is exact (every value bit for bit, null
// apart from "", every absent cell) and versioned (a replica refuses what it cannot read instead
// of applying something else). It is binary and columnar for tables because a Replace carries a
// whole file: a million rows must encode and decode in a fraction of a second and take about
// what the CSV did, or less. docs/wire-format.md is the byte-level reference; keep the two in
// step.

// wireMagic starts every message, so that a message from anything else is refused at once.
const wireMagic = "SSCS"

// WireVersion is the version EncodeChange writes. DecodeChange reads every version from
// minWireVersion to WireVersion. Any change to the layout or meaning of the bytes needs a new
// version (docs/wire-format.md, "Versions"); TestGolden guards the current one.
const (
	WireVersion    = 1
	minWireVersion = 1
)

// Limits a decoder enforces whatever the message claims, and an encoder checks so that it never
// writes what a decoder would refuse. They are sanity bounds far beyond any spreadsheet; what
// keeps a hostile message from allocating much is that every count must fit in the bytes left.
const (
	maxFields = 1 << 16
	maxRows   = 1 << 30 // below cache.RowID's 2^32, with room
)

// Flag bits of a change.
const (
	flagDrop     = 1 << 0
	flagTruncate = 1 << 1
	flagReplace  = 1 << 2
	flagSchema   = 1 << 3
	knownFlags   = flagDrop | flagTruncate | flagReplace | flagSchema
)

// Origin kinds on the wire. They are numbered here, not taken from cache, so that renumbering
// cache's constants cannot silently change the meaning of logged messages.
const (
	wireOriginNone = 0
	wireOriginFile = 1
	wireOriginAPI  = 2
)

// EncodeChange returns the wire encoding of cs in version WireVersion. Equal changes encode to
// equal bytes (item fields are written in key order). It fails only on a change no store could
// apply: a Replace table whose columns do not match its schema, or an unknown origin kind.
func EncodeChange(cs cache.ChangeSet) ([]byte, error) {
	b, err := appendChange(make([]byte, 0, changeSizeHint(&cs)), &cs)
	if err != nil {
		return nil, fmt.Errorf("encode change of %s: %w", cs.Collection, err)
	}
	return b, nil
}

// DecodeChange reads a change written by EncodeChange of any version this build knows. A
// message of another version is a *VersionError; anything malformed is a *FormatError (wrapped
// with where in the change it was found). It never panics, and allocates in proportion to len(b).
// The change does not share memory with b.
func DecodeChange(b []byte) (cache.ChangeSet, error) {
	r := &reader{b: b}
	v, err := readHeader(r)
	if err != nil {
		return cache.ChangeSet{}, fmt.Errorf("decode change: %w", err)
	}
	var cs cache.ChangeSet
	switch v {
	case 1:
		cs, err = readChangeV1(r)
	default:
		return cache.ChangeSet{}, fmt.Errorf("decode change: %w", &VersionError{Version: v})
	}
	if err == nil && r.left() != 0 {
		err = r.errorAt(r.off, "%d bytes after the end of the change", r.left())
	}
	if err != nil {
		return cache.ChangeSet{}, fmt.Errorf("decode change: %w", err)
	}
	return cs, nil
}

func readHeader(r *reader) (uint64, error) {
	if len(r.b) < len(wireMagic) || string(r.b[:len(wireMagic)]) != wireMagic {
		n := min(len(r.b), len(wireMagic))
		return 0, r.errorf("not a sheetsync change: starts with %q, want %q", r.b[:n], wireMagic)
	}
	r.off = len(wireMagic)
	return r.uvarint("version")
}

func appendChange(b []byte, cs *cache.ChangeSet) ([]byte, error) {
	b = append(b, wireMagic...)
	b = binary.AppendUvarint(b, WireVersion)
	b = appendString(b, cs.Collection)
	kind, err := wireOrigin(cs.Origin.Kind)
	if err != nil {
		return nil, err
	}
	b = append(b, kind)
	b = appendString(b, cs.Origin.Replica)
	b = appendString(b, cs.Origin.Path)
	b = binary.AppendUvarint(b, cs.BaseVersion)
	var flags byte
	if cs.Drop {
		flags |= flagDrop
	}
	if cs.Truncate {
		flags |= flagTruncate
	}
	if cs.Replace != nil {
		flags |= flagReplace
	}
	if cs.Schema != nil {
		flags |= flagSchema
	}
	b = append(b, flags)
	if cs.Replace != nil {
		if b, err = appendTable(b, cs.Replace); err != nil {
			return nil, fmt.Errorf("replace table: %w", err)
		}
	}
	if cs.Schema != nil {
		if b, err = appendSchema(b, cs.Schema); err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(cs.Remove)))
	for _, id := range cs.Remove {
		b = appendString(b, id)
	}
	return appendItems(b, cs.Update, cs.Insert), nil
}

func readChangeV1(r *reader) (cs cache.ChangeSet, err error) {
	if cs.Collection, err = r.string("collection"); err != nil {
		return cs, err
	}
	if cs.Origin, err = readOrigin(r); err != nil {
		return cs, err
	}
	if cs.BaseVersion, err = r.uvarint("base version"); err != nil {
		return cs, err
	}
	flags, err := r.byte("flags")
	if err != nil {
		return cs, err
	}
	if flags&^knownFlags != 0 {
		return cs, r.errorf("flags: unknown bits %#x", flags&^knownFlags)
	}
	cs.Drop, cs.Truncate = flags&flagDrop != 0, flags&flagTruncate != 0
	if flags&flagReplace != 0 {
		if cs.Replace, err = readTable(r); err != nil {
			return cs, fmt.Errorf("replace table: %w", err)
		}
	}
	if flags&flagSchema != 0 {
		if cs.Schema, err = readSchema(r); err != nil {
			return cs, fmt.Errorf("schema: %w", err)
		}
	}
	if cs.Remove, err = readRemove(r); err != nil {
		return cs, err
	}
	cs.Update, cs.Insert, err = readItems(r)
	return cs, err
}

func wireOrigin(k cache.OriginKind) (byte, error) {
	switch k {
	case 0:
		return wireOriginNone, nil
	case cache.OriginFile:
		return wireOriginFile, nil
	case cache.OriginAPI:
		return wireOriginAPI, nil
	}
	return 0, fmt.Errorf("origin kind %d has no wire encoding", k)
}

func readOrigin(r *reader) (o cache.Origin, err error) {
	kind, err := r.byte("origin kind")
	if err != nil {
		return o, err
	}
	switch kind {
	case wireOriginNone:
	case wireOriginFile:
		o.Kind = cache.OriginFile
	case wireOriginAPI:
		o.Kind = cache.OriginAPI
	default:
		return o, r.errorf("origin kind: unknown %d", kind)
	}
	if o.Replica, err = r.string("origin replica"); err != nil {
		return o, err
	}
	o.Path, err = r.string("origin path")
	return o, err
}

func readRemove(r *reader) ([]string, error) {
	n, err := r.count("remove count", 1, maxInt)
	if err != nil || n == 0 {
		return nil, err
	}
	ids := make([]string, n)
	for i := range ids {
		if ids[i], err = r.string("removed id"); err != nil {
			return nil, fmt.Errorf("remove %d: %w", i, err)
		}
	}
	return ids, nil
}

// changeSizeHint guesses the encoded size, so that a big Replace is written into one buffer
// instead of being copied as it grows.
func changeSizeHint(cs *cache.ChangeSet) int {
	n := 64 + len(cs.Collection) + len(cs.Origin.Replica) + len(cs.Origin.Path)
	for _, id := range cs.Remove {
		n += 1 + len(id)
	}
	n += 32 * (len(cs.Update) + len(cs.Insert))
	if cs.Replace != nil {
		n += tableSizeHint(cs.Replace)
	}
	return n
}
