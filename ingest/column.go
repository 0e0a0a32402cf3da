package ingest

import (
	"unsafe"

	"github.com/sheetsync/sheetsync/cache"
)

// colBuilder collects one column's cells and infers its type from all of them (DESIGN §3):
// boolean, number or datetime when every non-empty cell reads as one, else text. It keeps every
// cell's text (the text column, if that is the outcome) and, while each type is still possible,
// the parsed values, so a file is read once.
type colBuilder struct {
	key   string
	pos   int             // 0-based column in the file
	fixed cache.FieldType // a system field's type; 0 to infer

	n       int
	values  int // non-empty cells
	present []uint64
	cells   textCells // every cell's text, the text column if that is the outcome

	maybeNum, maybeBool, maybeTime bool
	nums                           chunked[float64]
	times                          chunked[int64]
	bools                          []uint64
	formula                        bool
	tooLarge                       bool // a chunk's text passed maxChunkBytes; the table is refused
}

// maxChunkBytes is the most text one chunk of a column may hold: offsets are 32-bit to keep the
// heap small (DESIGN §6), so 4,096 cells of a column may hold at most 4 GiB.
const maxChunkBytes = 1<<32 - 1

func newColBuilder(key string, pos int, fixed cache.FieldType, rows int) *colBuilder {
	c := &colBuilder{key: key, pos: pos, fixed: fixed,
		maybeNum: fixed == 0, maybeBool: fixed == 0, maybeTime: fixed == 0 || fixed == cache.TypeDateTime}
	for range rows {
		c.addEmpty()
	}
	return c
}

func (c *colBuilder) grow() {
	if c.n&63 == 0 {
		c.present = append(c.present, 0)
		if c.maybeBool {
			c.bools = append(c.bools, 0)
		}
	}
}

func (c *colBuilder) addEmpty() {
	c.grow()
	c.n++
	c.cells.add(nil)
	if c.maybeNum {
		c.nums.add(0)
	}
	if c.maybeTime {
		c.times.add(0)
	}
}

// add appends one cell. It returns a problem message for a cell that cannot be used (an error
// value, a system date that is not a date), in which case the cell is stored empty.
func (c *colBuilder) add(x *cell) string {
	if x.formula {
		c.formula = true
	}
	switch x.kind {
	case cellEmpty:
		c.addEmpty()
		return ""
	case cellError:
		c.addEmpty()
		return "the cell holds the error " + string(x.text) + "; it is served empty"
	}
	if c.fixed == cache.TypeDateTime {
		return c.addSystemTime(x)
	}
	i := c.n
	c.grow()
	c.n++
	c.values++
	c.present[i>>6] |= 1 << (uint(i) & 63)
	if c.cells.size()+len(x.text) > maxChunkBytes {
		c.tooLarge = true
		c.cells.add(nil)
	} else {
		c.cells.add(x.text)
	}
	if c.fixed != 0 {
		return "" // a text system field: nothing to infer
	}
	switch x.kind {
	case cellText:
		c.inferText(i, x.text)
	case cellLiteral:
		c.notNum()
		c.notBool()
		c.notTime()
	case cellNumber:
		c.notBool()
		c.notTime()
		if c.maybeNum {
			c.nums.add(x.num)
		}
	case cellBool:
		c.notNum()
		c.notTime()
		if c.maybeBool && x.b {
			c.bools[i>>6] |= 1 << (uint(i) & 63)
		}
	case cellDate:
		c.notNum()
		c.notBool()
		if c.maybeTime {
			c.times.add(x.ms)
		}
	}
	return ""
}

func (c *colBuilder) inferText(i int, t []byte) {
	if c.maybeNum {
		if f, ok := parseNumber(t); ok {
			c.nums.add(f)
		} else {
			c.notNum()
		}
	}
	if c.maybeBool {
		if b, ok := parseBool(t); !ok {
			c.notBool()
		} else if b {
			c.bools[i>>6] |= 1 << (uint(i) & 63)
		}
	}
	if c.maybeTime {
		if ms, ok := cache.ParseTime(unsafe.String(unsafe.SliceData(t), len(t))); ok {
			c.times.add(ms)
		} else {
			c.notTime()
		}
	}
}

func (c *colBuilder) notNum()  { c.maybeNum, c.nums = false, chunked[float64]{} }
func (c *colBuilder) notBool() { c.maybeBool, c.bools = false, nil }
func (c *colBuilder) notTime() { c.maybeTime, c.times = false, chunked[int64]{} }

// addSystemTime appends a cell of _createdDate or _updatedDate, which are always datetimes.
func (c *colBuilder) addSystemTime(x *cell) string {
	var ms int64
	switch x.kind {
	case cellDate:
		ms = x.ms
	case cellText, cellLiteral:
		var ok bool
		if ms, ok = cache.ParseTime(string(x.text)); !ok {
			c.addEmpty()
			return "not an ISO 8601 date-time: " + quoteShort(x.text) + "; it is served empty"
		}
	default:
		c.addEmpty()
		return "not a date-time; it is served empty"
	}
	i := c.n
	c.grow()
	c.n++
	c.values++
	c.present[i>>6] |= 1 << (uint(i) & 63)
	c.cells.add(nil)
	c.times.add(ms)
	return ""
}

// text returns cell i's text ("" when empty).
func (c *colBuilder) text(i int) string { return c.cells.text(i) }

func (c *colBuilder) has(i int) bool { return c.present[i>>6]&(1<<(uint(i)&63)) != 0 }

// fieldType returns the inferred type.
func (c *colBuilder) fieldType() cache.FieldType {
	switch {
	case c.fixed != 0:
		return c.fixed
	case c.values == 0:
		return cache.TypeText
	case c.maybeBool:
		return cache.TypeBoolean
	case c.maybeNum:
		return cache.TypeNumber
	case c.maybeTime:
		return cache.TypeDateTime
	}
	return cache.TypeText
}

// column returns the finished column. The builder must not be used afterwards.
func (c *colBuilder) column() *cache.Column {
	switch c.fieldType() {
	case cache.TypeBoolean:
		return cache.NewBoolColumn(c.n, c.bools, c.present)
	case cache.TypeNumber:
		return cache.NewNumberColumn(c.nums.chunks, c.present)
	case cache.TypeDateTime:
		return cache.NewTimeColumn(c.times.chunks, c.present)
	}
	return cache.NewTextColumnChunks(c.cells.data, c.cells.offs, c.present)
}

// setText replaces the cells of the given rows (ascending) with text values, rebuilding only the
// chunks they fall in. It is how generated _id values enter a column.
func (c *colBuilder) setText(rows []int, vals []string) {
	c.cells = c.cells.replaced(rows, vals)
	for k, i := range rows {
		if vals[k] != "" {
			c.present[i>>6] |= 1 << (uint(i) & 63)
		}
	}
}

// setTime sets the cells of the given rows of a datetime column to ms.
func (c *colBuilder) setTime(rows []int, ms int64) {
	for _, i := range rows {
		c.times.set(i, ms)
		c.present[i>>6] |= 1 << (uint(i) & 63)
	}
}

// drop removes the given rows (ascending) from the column.
func (c *colBuilder) drop(rows []int) {
	keep := newColBuilder(c.key, c.pos, c.fixed, 0)
	keep.maybeNum, keep.maybeBool, keep.maybeTime = c.maybeNum, c.maybeBool, c.maybeTime
	keep.formula = c.formula
	k := 0
	for i := 0; i < c.n; i++ {
		if k < len(rows) && rows[k] == i {
			k++
			continue
		}
		j := keep.n
		keep.grow()
		keep.n++
		keep.cells.add([]byte(c.text(i)))
		if c.has(i) {
			keep.values++
			keep.present[j>>6] |= 1 << (uint(j) & 63)
		}
		if c.maybeNum {
			keep.nums.add(c.nums.at(i))
		}
		if c.maybeTime {
			keep.times.add(c.times.at(i))
		}
		if c.maybeBool && c.bools[i>>6]&(1<<(uint(i)&63)) != 0 {
			keep.bools[j>>6] |= 1 << (uint(j) & 63)
		}
	}
	*c = *keep
}

func quoteShort(b []byte) string {
	if len(b) > 40 {
		return "\"" + string(b[:40]) + "…\""
	}
	return "\"" + string(b) + "\""
}
