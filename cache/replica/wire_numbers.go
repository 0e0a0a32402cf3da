package replica

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sheetsync/sheetsync/cache"
)

// Number and datetime columns are written in blocks of blockSize cells, each with its own
// encoding, so that one odd value (a NaN, a price with many decimals) costs its block the
// compact form, not the whole column. The compact forms are exact: the encoder only picks one
// after checking that every value of the block comes back bit for bit.
//
// Numbers from spreadsheets are mostly decimals with few digits (prices, quantities, ratings):
// 12.5 is the integer 125 over 10^1, which as a delta from the previous value takes a byte or
// two instead of eight. Instants are mostly whole seconds or whole days apart, so they are
// written as deltas in the largest unit that divides the whole block.
const blockSize = 4096

// Block encodings.
const (
	blockRaw   = 0 // each present value as 8 little-endian bytes (float64 bits, or int64 ms)
	blockDelta = 1 // a scale byte, then each present value as a zigzag uvarint delta
)

// maxScale is the largest power of ten a decimal block divides by: every power up to 10^22 is
// exact in a float64, so the division is correctly rounded and gives back the very float that
// parsing the decimal text gave.
const maxScale = 22

var pow10 = func() (p [maxScale + 1]float64) {
	p[0] = 1
	for i := 1; i <= maxScale; i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// timeUnits are the units of a delta block of instants, by scale byte.
var timeUnits = [...]int64{1, 1000, 60_000, 3_600_000, 86_400_000}

// Shared all-zero cells for columns with no present cell: the cache's constructors take a
// slice per chunk, and these are never written to.
var (
	zeroFloats [cache.ChunkSize]float64
	zeroTimes  [cache.ChunkSize]int64
)

func appendNumberColumn(b []byte, col *cache.Column, n int) []byte {
	ms := make([]int64, min(blockSize, n))
	return appendBlocks(b, col, n, (*cache.Chunk).Numbers, func(b []byte, vals []float64) []byte {
		return appendNumberBlock(b, vals, ms)
	})
}

func appendTimeColumn(b []byte, col *cache.Column, n int) []byte {
	return appendBlocks(b, col, n, (*cache.Chunk).Times, appendTimeBlock)
}

// appendBlocks writes a column's presence, then the values of its present cells block by
// block, gathered from its chunks into one block's worth of scratch.
func appendBlocks[T any](b []byte, col *cache.Column, n int, cells func(*cache.Chunk) []T, block func([]byte, []T) []byte) []byte {
	present, count := presenceOf(col, n)
	b = appendPresence(b, present, n, count)
	cur := cursor{col: col}
	vals := make([]T, 0, min(blockSize, n))
	for lo := 0; lo < n; lo += blockSize {
		vals = nextPresent(&cur, min(blockSize, n-lo), cells, vals[:0])
		b = block(b, vals)
	}
	return b
}

// appendNumberBlock writes a block as decimals when they are exact and smaller, else raw. ms is
// scratch of at least len(vals).
func appendNumberBlock(b []byte, vals []float64, ms []int64) []byte {
	if k, size, ok := decimals(vals, ms); ok && size < 8*len(vals) {
		b = append(b, blockDelta, byte(k))
		prev := int64(0)
		for _, m := range ms[:len(vals)] {
			b = binary.AppendUvarint(b, zigzag(m-prev))
			prev = m
		}
		return b
	}
	b = append(b, blockRaw)
	for _, f := range vals {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// decimals finds the fewest decimal places k that write every value exactly, sets ms to the
// values times 10^k and returns k with the size of the delta block. It reports false when a
// value is no short decimal (NaN, ±Inf, -0, or too many digits).
func decimals(vals []float64, ms []int64) (k, size int, ok bool) {
	for i := 0; i < len(vals); {
		size, ok = 1, true
		prev := int64(0)
		for i = 0; i < len(vals); i++ {
			m, exact := decimal(vals[i], k)
			if !exact {
				break
			}
			ms[i] = m
			size += uvarintLen(zigzag(m - prev))
			prev = m
		}
		if i == len(vals) {
			break
		}
		// vals[i] needs more places, or no number of them will do: start over with its own
		for k++; k <= maxScale; k++ {
			if _, exact := decimal(vals[i], k); exact {
				break
			}
		}
		if k > maxScale {
			return 0, 0, false
		}
	}
	return k, size, true
}

// decimal returns m with m / 10^k == f exactly, bit for bit.
func decimal(f float64, k int) (int64, bool) {
	m := math.Round(f * pow10[k])
	if !(math.Abs(m) <= 1<<53) {
		return 0, false
	}
	return int64(m), math.Float64bits(float64(int64(m))/pow10[k]) == math.Float64bits(f)
}

// appendTimeBlock writes a block as deltas in the largest unit dividing every instant when
// that is smaller, else raw.
func appendTimeBlock(b []byte, vals []int64) []byte {
	u := len(timeUnits) - 1
	for _, v := range vals {
		for v%timeUnits[u] != 0 {
			u--
		}
	}
	unit := timeUnits[u]
	size, prev := 1, int64(0)
	for _, v := range vals {
		size += uvarintLen(zigzag(v/unit - prev))
		prev = v / unit
	}
	if size < 8*len(vals) {
		b = append(b, blockDelta, byte(u))
		prev = 0
		for _, v := range vals {
			b = binary.AppendUvarint(b, zigzag(v/unit-prev))
			prev = v / unit
		}
		return b
	}
	b = append(b, blockRaw)
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func readNumberColumn(r *reader, n int) (*cache.Column, error) {
	present, vals, err := readBlocks(r, n, zeroFloats[:], readNumberBlock)
	if err != nil {
		return nil, err
	}
	return cache.NewNumberColumn(vals, present), nil
}

func readTimeColumn(r *reader, n int) (*cache.Column, error) {
	present, vals, err := readBlocks(r, n, zeroTimes[:], readTimeBlock)
	if err != nil {
		return nil, err
	}
	return cache.NewTimeColumn(vals, present), nil
}

// readBlocks reads a column's presence and blocks and returns its cells per cache chunk. Only
// chunks with a present cell get cells of their own; the others are windows onto zeros.
func readBlocks[T any](r *reader, n int, zeros []T, block func(*reader, []T) error) ([]uint64, [][]T, error) {
	present, count, err := readPresence(r, n)
	if err != nil {
		return nil, nil, err
	}
	chunks := make([][]T, 0, (n+cache.ChunkSize-1)/cache.ChunkSize)
	for lo := 0; lo < n; lo += cache.ChunkSize {
		hi := min(lo+cache.ChunkSize, n)
		if countRange(present, lo, hi) > 0 {
			chunks = append(chunks, make([]T, hi-lo))
		} else {
			chunks = append(chunks, zeros[:hi-lo:hi-lo])
		}
	}
	buf := make([]T, min(blockSize, count))
	for lo := 0; lo < n; lo += blockSize {
		hi := min(lo+blockSize, n)
		vals := buf[:countRange(present, lo, hi)]
		if err := block(r, vals); err != nil {
			return nil, nil, fmt.Errorf("block %d: %w", lo/blockSize, err)
		}
		scatter(chunks, vals, present, lo, hi)
	}
	return present, chunks, nil
}

func readNumberBlock(r *reader, vals []float64) error {
	mode, err := r.byte("block encoding")
	if err != nil {
		return err
	}
	switch mode {
	case blockRaw:
		p, err := r.take(8*len(vals), "numbers")
		if err != nil {
			return err
		}
		for i := range vals {
			vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
		}
		return nil
	case blockDelta:
		k, err := r.byte("decimal scale")
		if err != nil {
			return err
		}
		if k > maxScale {
			return r.errorf("decimal scale: %d is over %d", k, maxScale)
		}
		return readDeltas(r, vals, func(m int64) float64 { return float64(m) / pow10[k] })
	}
	return r.errorf("block encoding: unknown %d", mode)
}

func readTimeBlock(r *reader, vals []int64) error {
	mode, err := r.byte("block encoding")
	if err != nil {
		return err
	}
	switch mode {
	case blockRaw:
		p, err := r.take(8*len(vals), "datetimes")
		if err != nil {
			return err
		}
		for i := range vals {
			vals[i] = int64(binary.LittleEndian.Uint64(p[8*i:]))
		}
		return nil
	case blockDelta:
		u, err := r.byte("time unit")
		if err != nil {
			return err
		}
		if int(u) >= len(timeUnits) {
			return r.errorf("time unit: unknown %d", u)
		}
		unit := timeUnits[u]
		return readDeltas(r, vals, func(q int64) int64 { return q * unit })
	}
	return r.errorf("block encoding: unknown %d", mode)
}

// readDeltas reads len(vals) zigzag deltas and sets each value from their running sum.
// Arithmetic wraps, as it did when the deltas were taken, so every int64 comes back.
func readDeltas[T any](r *reader, vals []T, value func(int64) T) error {
	if len(vals) > r.left() {
		return r.errorf("deltas: %d cannot fit in the %d bytes left", len(vals), r.left())
	}
	prev := int64(0)
	for i := range vals {
		z, err := r.uvarint("delta")
		if err != nil {
			return err
		}
		prev += unzigzag(z)
		vals[i] = value(prev)
	}
	return nil
}
