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
	// declared is the type declared through the API, served when every cell fits it; 0 for none
	declared cache.FieldType
	ref      string // the collection a declared reference field refers to

	n       int
	counts  typeCounts // the cells, by the types they could be read as
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
	c.present[i>>6] |= 1 << (uint(i) & 63)
	if c.cells.size()+len(x.text) > maxChunkBytes {
		c.tooLarge = true
		c.cells.add(nil)
	} else {
		c.cells.add(x.text)
	}
	c.counts.values++
	if c.fixed != 0 {
		return "" // a text system field: nothing to infer
	}
	r := readCell(x)
	c.counts.add(r, 1)
	if !r.isNum {
		c.notNum()
	} else if c.maybeNum {
		c.nums.add(r.num)
	}
	if !r.isBool {
		c.notBool()
	} else if c.maybeBool && r.b {
		c.bools[i>>6] |= 1 << (uint(i) & 63)
	}
	if !r.isTime {
		c.notTime()
	} else if c.maybeTime {
		c.times.add(r.ms)
	}
	return ""
}

// cellReading is what a non-empty cell can be read as: each type it would fit, and its value as
// that type.
type cellReading struct {
	isNum, isBool, isTime bool
	num                   float64
	b                     bool
	ms                    int64
}

// readCell reads a non-empty cell as every type it could be, the same way for a full read and
// the incremental path, so both infer a column's type alike.
func readCell(x *cell) cellReading {
	var r cellReading
	switch x.kind {
	case cellText:
		r.num, r.isNum = parseNumber(x.text)
		r.b, r.isBool = parseBool(x.text)
		r.ms, r.isTime = cache.ParseTime(unsafe.String(unsafe.SliceData(x.text), len(x.text)))
	case cellNumber:
		r.num, r.isNum = x.num, true
	case cellBool:
		r.b, r.isBool = x.b, true
	case cellDate:
		r.ms, r.isTime = x.ms, true
	}
	return r
}

// typeCounts counts a column's non-empty cells and, of those, the ones that do not fit each type
// inference could give it. The type follows from the counts (see inferred); the incremental path
// keeps them current to know when an edit would change it.
type typeCounts struct {
	values, nonBool, nonNum, nonTime int
}

// add counts one non-empty cell read as r, n times (n = -1 takes it back).
func (k *typeCounts) add(r cellReading, n int) {
	if !r.isBool {
		k.nonBool += n
	}
	if !r.isNum {
		k.nonNum += n
	}
	if !r.isTime {
		k.nonTime += n
	}
}

// typed is the type of a column declared as declared (0 for none) with these cells: the declared
// type when every cell fits it, else the inferred one.
func (k typeCounts) typed(declared cache.FieldType) cache.FieldType {
	if k.fits(declared) {
		return declared
	}
	return k.inferred()
}

// fits reports whether every counted cell can be read as a value of type t.
func (k typeCounts) fits(t cache.FieldType) bool {
	switch t {
	case cache.TypeText:
		return true
	case cache.TypeNumber:
		return k.nonNum == 0
	case cache.TypeBoolean:
		return k.nonBool == 0
	case cache.TypeDateTime:
		return k.nonTime == 0
	}
	return false
}

// inferred is the type the counted cells give a column (DESIGN §3): boolean, number or datetime
// when every non-empty cell is one, else text; text for a column without values.
func (k typeCounts) inferred() cache.FieldType {
	switch {
	case k.values == 0:
		return cache.TypeText
	case k.nonBool == 0:
		return cache.TypeBoolean
	case k.nonNum == 0:
		return cache.TypeNumber
	case k.nonTime == 0:
		return cache.TypeDateTime
	}
	return cache.TypeText
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
	c.counts.values++
	c.present[i>>6] |= 1 << (uint(i) & 63)
	c.cells.add(nil)
	c.times.add(ms)
	return ""
}

// text returns cell i's text ("" when empty).
func (c *colBuilder) text(i int) string { return c.cells.text(i) }

func (c *colBuilder) has(i int) bool { return c.present[i>>6]&(1<<(uint(i)&63)) != 0 }

// fieldType returns the column's type: a system field's own, else the declared type if every
// cell fits it, else the inferred one.
func (c *colBuilder) fieldType() cache.FieldType {
	if c.fixed != 0 {
		return c.fixed
	}
	return c.counts.typed(c.declared)
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
	keep.counts = c.counts // a column's type is read from all the file's cells, left-out rows too
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
