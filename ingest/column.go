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
	data    []byte
	offs    []uint32 // n+1 offsets into data

	maybeNum, maybeBool, maybeTime bool
	nums                           []float64
	times                          []int64
	bools                          []uint64
	formula                        bool
	tooLarge                       bool // the text passed maxColumnBytes; the table is refused
}

// maxColumnBytes is the most text one column may hold: offsets are 32-bit to keep the heap
// small (DESIGN §6), so a column's text is limited to 4 GiB.
const maxColumnBytes = 1<<32 - 1

func newColBuilder(key string, pos int, fixed cache.FieldType, rows int) *colBuilder {
	c := &colBuilder{key: key, pos: pos, fixed: fixed, offs: []uint32{0},
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
	c.offs = append(c.offs, uint32(len(c.data)))
	if c.maybeNum {
		c.nums = append(c.nums, 0)
	}
	if c.maybeTime {
		c.times = append(c.times, 0)
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
	c.data = append(c.data, x.text...)
	if len(c.data) > maxColumnBytes {
		c.tooLarge = true
		c.data = c.data[:c.offs[len(c.offs)-1]]
	}
	c.offs = append(c.offs, uint32(len(c.data)))
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
			c.nums = append(c.nums, x.num)
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
			c.times = append(c.times, x.ms)
		}
	}
	return ""
}

func (c *colBuilder) inferText(i int, t []byte) {
	if c.maybeNum {
		if f, ok := parseNumber(t); ok {
			c.nums = append(c.nums, f)
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
			c.times = append(c.times, ms)
		} else {
			c.notTime()
		}
	}
}

func (c *colBuilder) notNum()  { c.maybeNum, c.nums = false, nil }
func (c *colBuilder) notBool() { c.maybeBool, c.bools = false, nil }
func (c *colBuilder) notTime() { c.maybeTime, c.times = false, nil }

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
	c.offs = append(c.offs, uint32(len(c.data)))
	c.times = append(c.times, ms)
	return ""
}

// text returns cell i's text ("" when empty).
func (c *colBuilder) text(i int) string {
	a, b := c.offs[i], c.offs[i+1]
	if a == b {
		return ""
	}
	return unsafe.String(&c.data[a], int(b-a))
}

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
		return cache.NewNumberColumn(c.nums, c.present)
	case cache.TypeDateTime:
		return cache.NewTimeColumn(c.times, c.present)
	}
	return cache.NewTextColumn(c.data, c.offs, c.present)
}

// set replaces the cells of the given rows (ascending) with text values, rebuilding the arena
// once. It is how generated _id values enter a column.
func (c *colBuilder) setText(rows []int, vals []string) {
	data := make([]byte, 0, len(c.data)+len(vals)*36)
	offs := make([]uint32, 1, c.n+1)
	k := 0
	for i := 0; i < c.n; i++ {
		if k < len(rows) && rows[k] == i {
			data = append(data, vals[k]...)
			if vals[k] != "" {
				c.present[i>>6] |= 1 << (uint(i) & 63)
			}
			k++
		} else {
			data = append(data, c.text(i)...)
		}
		offs = append(offs, uint32(len(data)))
	}
	c.data, c.offs = data, offs
}

// setTime sets the cells of the given rows of a datetime column to ms.
func (c *colBuilder) setTime(rows []int, ms int64) {
	for _, i := range rows {
		c.times[i] = ms
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
		keep.data = append(keep.data, c.text(i)...)
		keep.offs = append(keep.offs, uint32(len(keep.data)))
		if c.has(i) {
			keep.values++
			keep.present[j>>6] |= 1 << (uint(j) & 63)
		}
		if c.maybeNum {
			keep.nums = append(keep.nums, c.nums[i])
		}
		if c.maybeTime {
			keep.times = append(keep.times, c.times[i])
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
