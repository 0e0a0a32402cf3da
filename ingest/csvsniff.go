package ingest

// sniffCSV picks the delimiter that splits the first records of data most consistently into
// more than one field, and returns the first record terminator outside quotes ("" when none is
// seen). complete says data is the whole file.
func sniffCSV(data []byte, complete bool) (comma byte, term string) {
	comma = ','
	bestFreq, bestCount := 0, 0
	for _, c := range []byte{',', ';', '\t'} {
		var counts [csvSniffRecords]int
		n, t := sniffCounts(data, c, complete, &counts)
		if c == ',' {
			term = t
		}
		freq, count := modalCount(counts[:n])
		if freq > bestFreq || freq == bestFreq && count > bestCount {
			comma, bestFreq, bestCount, term = c, freq, count, t
		}
	}
	return comma, term
}

// sniffCounts splits data into records with delimiter comma, respecting quotes, and stores the
// field count of each non-blank one. It returns how many it stored and the first terminator.
func sniffCounts(data []byte, comma byte, complete bool, counts *[csvSniffRecords]int) (n int, term string) {
	fields, quoted, fieldStart, blank := 1, false, true, true
	for i := 0; i < len(data) && n < len(counts); i++ {
		c := data[i]
		if quoted {
			if c == '"' {
				if i+1 < len(data) && data[i+1] == '"' {
					i++
				} else {
					quoted = false
				}
			}
			continue
		}
		switch c {
		case comma:
			fields, fieldStart, blank = fields+1, true, false
		case '\n', '\r':
			t := data[i : i+1]
			if c == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				t = data[i : i+2]
				i++
			}
			if term == "" {
				term = string(t)
			}
			if !blank {
				counts[n] = fields
				n++
			}
			fields, fieldStart, blank = 1, true, true
		case '"':
			quoted = fieldStart
			fieldStart, blank = false, false
		default:
			fieldStart, blank = false, false
		}
	}
	if complete && !quoted && !blank && n < len(counts) {
		counts[n] = fields
		n++
	}
	return n, term
}

// modalCount returns the most frequent count above 1 and how often it occurs; on a tie, the
// larger count.
func modalCount(counts []int) (freq, count int) {
	for i, c := range counts {
		if c <= 1 {
			continue
		}
		f := 0
		for _, d := range counts[i:] {
			if d == c {
				f++
			}
		}
		if f > freq || f == freq && c > count {
			freq, count = f, c
		}
	}
	return freq, count
}
