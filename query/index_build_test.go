package query

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
)

// This file tests the permutation itself, which the public surface only shows through query
// answers: a build is the live rows sorted by the key, and a derived permutation is exactly the
// one a build would give.

var permSchema = cache.MustSchema(
	cache.Field{Key: cache.FieldID, Type: cache.TypeText},
	cache.Field{Key: "n", Type: cache.TypeNumber},
	cache.Field{Key: "s", Type: cache.TypeText},
	cache.Field{Key: "b", Type: cache.TypeBoolean},
	cache.Field{Key: "t", Type: cache.TypeDateTime},
)

func permValue(rng *rand.Rand, key string) cache.Value {
	if rng.IntN(8) == 0 {
		return cache.Null()
	}
	switch key {
	case "n":
		return cache.Number(float64(rng.IntN(400)-200) / 8)
	case "s":
		w := []string{"a", "A", "ab", "Ab", "abcdefgh", "ABCDEFGHI", "abcdefghij", "Éclair", "éclair", "z", "", "\xc3", "\xc3\xa9", "a\x00", "\x00"}
		return cache.Text(w[rng.IntN(len(w))])
	case "b":
		return cache.Bool(rng.IntN(2) == 0)
	}
	return cache.Time(int64(rng.IntN(100)) * 1000)
}

func permItem(rng *rand.Rand, id int) cache.Item {
	it := cache.Item{cache.FieldID: cache.Text(fmt.Sprint("id", id))}
	for _, key := range []string{"n", "s", "b", "t"} {
		if v := permValue(rng, key); !v.IsNull() {
			it[key] = v
		}
	}
	return it
}

var permDefs = []Index{
	{Fields: []IndexField{{Path: "n", Order: Asc}}},
	{Fields: []IndexField{{Path: "n", Order: Desc}}},
	{Fields: []IndexField{{Path: "s", Order: Asc}}},
	{Fields: []IndexField{{Path: "s", Order: Desc}}, CaseInsensitive: true},
	{Fields: []IndexField{{Path: "b", Order: Asc}, {Path: "t", Order: Desc}}},
	{Fields: []IndexField{{Path: "t", Order: Desc}, {Path: "s", Order: Asc}, {Path: "n", Order: Asc}}, CaseInsensitive: true},
}

// checkPerm requires p to be snap's live rows sorted by k, in well-formed blocks.
func checkPerm(t *testing.T, what string, snap *cache.Snapshot, k indexKey, p *perm) {
	t.Helper()
	for b, blk := range p.blocks {
		if len(blk) == 0 || len(blk) > 2*blockSize || p.starts[b+1]-p.starts[b] != len(blk) {
			t.Fatalf("%s: block %d of %d rows, starts %d..%d", what, b, len(blk), p.starts[b], p.starts[b+1])
		}
	}
	perm := p.flat()
	var want []cache.RowID
	snap.Rows(func(r cache.RowID) bool { want = append(want, r); return true })
	slices.SortStableFunc(want, k.compareKeys)
	if !slices.Equal(perm, want) {
		t.Fatalf("%s: permutation differs from a plain sort (%d rows, want %d)", what, len(perm), len(want))
	}
}

// TestBuildAndDerive follows a collection through random commits and checks every index's
// permutation, derived version after version, against a plain sort. Small blocks and a low
// edit limit make the block edits split blocks and the merge path run too.
func TestBuildAndDerive(t *testing.T) {
	for _, tc := range []struct{ block, edits int }{{4096, 4096}, {64, 16}, {7, 1 << 20}} {
		t.Run(fmt.Sprintf("block%d_edits%d", tc.block, tc.edits), func(t *testing.T) {
			b, e := blockSize, maxEdits
			blockSize, maxEdits = tc.block, tc.edits
			defer func() { blockSize, maxEdits = b, e }()
			testBuildAndDerive(t)
		})
	}
}

func testBuildAndDerive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var rows [][]cache.Value
	next := 0
	for range 2*cache.ChunkSize + 300 {
		it := permItem(rng, next)
		next++
		row := make([]cache.Value, permSchema.Len())
		for j := range row {
			row[j] = it[permSchema.Field(j).Key]
		}
		rows = append(rows, row)
	}
	snap, err := cache.FromRows("perm", permSchema, rows)
	if err != nil {
		t.Fatal(err)
	}
	prev := make([]*perm, len(permDefs))
	keys := make([]indexKey, len(permDefs))
	for i := range permDefs {
		keys[i], _ = resolveKey(&permDefs[i], snap)
		prev[i] = buildPerm(snap, keys[i])
		checkPerm(t, fmt.Sprint("build ", i), snap, keys[i], prev[i])
	}
	derived, rounds := 0, 60
	if testing.Short() {
		rounds = 12
	}
	for round := range rounds {
		var ids []string
		snap.Rows(func(r cache.RowID) bool { ids = append(ids, snap.Value(r, 0).Str()); return true })
		cs := cache.ChangeSet{Collection: "perm"}
		size := 1 + rng.IntN(4)
		if round%10 == 9 {
			size = 2000 // enough dead rows, now and then, to compact
		}
		seen := map[string]bool{}
		for range size {
			id := ids[rng.IntN(len(ids))]
			if seen[id] {
				continue
			}
			seen[id] = true
			switch rng.IntN(3) {
			case 0:
				cs.Remove = append(cs.Remove, id)
			case 1:
				key := []string{"n", "s", "b", "t"}[rng.IntN(4)]
				cs.Update = append(cs.Update, cache.Item{cache.FieldID: cache.Text(id), key: permValue(rng, key)})
			default:
				cs.Insert = append(cs.Insert, permItem(rng, next))
				next++
			}
		}
		nextSnap, err := snap.Apply(cs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range permDefs {
			k, _ := resolveKey(&permDefs[i], nextSnap)
			perm, ok := derive(prev[i], snap, keys[i], nextSnap, k)
			if ok {
				derived++
			} else {
				perm = buildPerm(nextSnap, k)
			}
			checkPerm(t, fmt.Sprintf("round %d index %d derived %t", round, i, ok), nextSnap, k, perm)
			prev[i], keys[i] = perm, k
		}
		snap = nextSnap
	}
	if derived < rounds*len(permDefs)/2 {
		t.Errorf("only %d of %d permutations derived", derived, rounds*len(permDefs))
	}
}

func TestFoldCompare(t *testing.T) {
	words := []string{"", "a", "A", "ab", "aB", "Ab", "b", "é", "É", "éa", "Éb", "\u212a", "k", "K", "\xc3", "\xc3\xa9", "\xc3A", "ß", "ẞ", "İ", "i", "Straße", "STRASSE", "zz", "ZZ\xff"}
	for _, a := range words {
		for _, b := range words {
			want := slices.Compare(fold(nil, a), fold(nil, b))
			if got := foldCompare(a, b); got != want {
				t.Errorf("foldCompare(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// TestKeyEncodingOrder checks that encoded keys order as the index compares rows, on cells
// chosen to trip the encoding: zero bytes, prefixes, case and invalid UTF-8.
func TestKeyEncodingOrder(t *testing.T) {
	words := []string{"", "\x00", "a", "a\x00", "a\x00b", "a\x01", "ab", "A", "Ab", "abcdefgh", "abcdefghi", "ÉÉÉÉé", "éééé", "\xc3", "\xc3\xa9", "zzzzzzzzzzzzzzzz"}
	var rows [][]cache.Value
	for i, w := range words {
		rows = append(rows, []cache.Value{cache.Text(fmt.Sprint(i)), cache.Number(float64(i%3) - 1), cache.Text(w), cache.Null(), cache.Null()})
	}
	rows = append(rows, []cache.Value{cache.Text("n"), cache.Null(), cache.Null(), cache.Null(), cache.Null()})
	snap, err := cache.FromRows("enc", permSchema, rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, def := range permDefs {
		k, _ := resolveKey(&def, snap)
		var buf []byte
		snap.Rows(func(a cache.RowID) bool {
			snap.Rows(func(b cache.RowID) bool {
				want := k.compareKeys(a, b)
				got := bytes.Compare(k.appendKey(nil, a, &buf), k.appendKey(nil, b, &buf))
				if got != want {
					t.Errorf("%+v: rows %q %q: encodings compare %d, keys %d", def.Fields, snap.Value(a, 2).Str(), snap.Value(b, 2).Str(), got, want)
				}
				return true
			})
			return true
		})
	}
}
