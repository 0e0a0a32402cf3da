package replica

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/sheetsync/sheetsync/cache"
)

// Items (the rows of Update and Insert) are maps from field key to value. The keys they use are
// written once, sorted, in a key table, and each item refers to them by position: a batch of
// inserts does not repeat its field names, a decoder makes each key string once, and writing
// an item's fields in key order makes the encoding of a change deterministic.

// Value tags. A null is written, not left out: in an update it empties the cell.
const (
	tagNull  = 0
	tagText  = 1
	tagNum   = 2
	tagFalse = 3
	tagTrue  = 4
	tagTime  = 5
)

func appendItems(b []byte, update, insert []cache.Item) []byte {
	keys := itemKeys(update, insert)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
	}
	var idx []int
	for _, list := range [][]cache.Item{update, insert} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, it := range list {
			idx = idx[:0]
			for k := range it {
				i, _ := slices.BinarySearch(keys, k)
				idx = append(idx, i)
			}
			slices.Sort(idx)
			b = binary.AppendUvarint(b, uint64(len(idx)))
			for _, i := range idx {
				b = binary.AppendUvarint(b, uint64(i))
				b = appendValue(b, it[keys[i]])
			}
		}
	}
	return b
}

// itemKeys returns the distinct keys of the items, sorted. Items of one change usually share a
// handful of keys, so a linear search serves until there are many.
func itemKeys(lists ...[]cache.Item) []string {
	var keys []string
	var seen map[string]bool
	for _, list := range lists {
		for _, it := range list {
			for k := range it {
				switch {
				case seen != nil:
					if !seen[k] {
						seen[k] = true
						keys = append(keys, k)
					}
				case !slices.Contains(keys, k):
					keys = append(keys, k)
					if len(keys) > 16 {
						seen = make(map[string]bool, 2*len(keys))
						for _, k := range keys {
							seen[k] = true
						}
					}
				}
			}
		}
	}
	slices.Sort(keys)
	return keys
}

func appendValue(b []byte, v cache.Value) []byte {
	switch v.Kind() {
	case cache.KindText:
		return appendString(append(b, tagText), v.Str())
	case cache.KindNumber:
		return binary.LittleEndian.AppendUint64(append(b, tagNum), math.Float64bits(v.Num()))
	case cache.KindBool:
		if v.Bool() {
			return append(b, tagTrue)
		}
		return append(b, tagFalse)
	case cache.KindTime:
		return binary.LittleEndian.AppendUint64(append(b, tagTime), uint64(v.Millis()))
	}
	return append(b, tagNull)
}

func readItems(r *reader) (update, insert []cache.Item, err error) {
	n, err := r.count("key count", 1, maxInt)
	if err != nil {
		return nil, nil, err
	}
	keys := make([]string, n)
	for i := range keys {
		if keys[i], err = r.string("key"); err != nil {
			return nil, nil, err
		}
		if i > 0 && keys[i] <= keys[i-1] {
			return nil, nil, r.errorf("key table: %q after %q, want strictly ascending keys", keys[i], keys[i-1])
		}
	}
	if update, err = readItemList(r, keys, "update"); err != nil {
		return nil, nil, err
	}
	insert, err = readItemList(r, keys, "insert")
	return update, insert, err
}

func readItemList(r *reader, keys []string, what string) ([]cache.Item, error) {
	n, err := r.count(what+" count", 1, maxInt)
	if err != nil || n == 0 {
		return nil, err
	}
	items := make([]cache.Item, n)
	for i := range items {
		if items[i], err = readItem(r, keys); err != nil {
			return nil, fmt.Errorf("%s item %d: %w", what, i, err)
		}
	}
	return items, nil
}

func readItem(r *reader, keys []string) (cache.Item, error) {
	n, err := r.count("field count", 2, len(keys))
	if err != nil {
		return nil, err
	}
	it := make(cache.Item, n)
	prev := -1
	for range n {
		k, err := r.uvarint("key index")
		if err != nil {
			return nil, err
		}
		if k >= uint64(len(keys)) || int(k) <= prev {
			return nil, r.errorf("key index %d: want one above %d and below %d", k, prev, len(keys))
		}
		prev = int(k)
		if it[keys[k]], err = readValue(r); err != nil {
			return nil, fmt.Errorf("field %q: %w", keys[k], err)
		}
	}
	return it, nil
}

func readValue(r *reader) (cache.Value, error) {
	tag, err := r.byte("value tag")
	if err != nil {
		return cache.Value{}, err
	}
	switch tag {
	case tagNull:
		return cache.Null(), nil
	case tagText:
		s, err := r.string("text")
		return cache.Text(s), err
	case tagNum:
		u, err := r.uint64("number")
		return cache.Number(math.Float64frombits(u)), err
	case tagFalse, tagTrue:
		return cache.Bool(tag == tagTrue), nil
	case tagTime:
		u, err := r.uint64("datetime")
		return cache.Time(int64(u)), err
	}
	return cache.Value{}, r.errorf("value tag: unknown %d", tag)
}
