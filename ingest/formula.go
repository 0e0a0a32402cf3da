package ingest

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/xuri/efp"
)

// cellRef is an A1 reference: $ marks an absolute column or row.
var cellRef = regexp.MustCompile(`^(\$?[A-Za-z]{1,3})(\$?)([0-9]+)$`)

// shiftFormulaRows returns formula as it reads when copied delta rows down, as a spreadsheet
// fills a formula down: relative row numbers move, absolute ones ($5) stay, and text, names and
// whole columns are left alone. ok is false when the formula cannot be read.
func shiftFormulaRows(formula string, delta int) (string, bool) {
	p := efp.ExcelParser()
	tokens := p.Parse(formula)
	if len(tokens) == 0 {
		return "", false
	}
	for i, t := range tokens {
		if t.TType != efp.TokenTypeOperand || t.TSubType != efp.TokenSubTypeRange {
			continue
		}
		prefix, ref := "", t.TValue
		if k := strings.LastIndexByte(ref, '!'); k >= 0 {
			prefix, ref = quoteSheet(ref[:k])+"!", ref[k+1:]
		}
		parts := strings.Split(ref, ":")
		for j, part := range parts {
			m := cellRef.FindStringSubmatch(part)
			if m == nil || m[2] == "$" {
				continue
			}
			row, err := strconv.Atoi(m[3])
			if err != nil || row+delta < 1 {
				return "", false
			}
			parts[j] = m[1] + strconv.Itoa(row+delta)
		}
		tokens[i].TValue = prefix + strings.Join(parts, ":")
	}
	p.Tokens.Items = tokens
	return p.Render(), true
}

// quoteSheet puts back the quotes the tokenizer takes off a sheet name that needs them.
func quoteSheet(name string) string {
	if strings.HasPrefix(name, "'") || !strings.ContainsFunc(name, func(r rune) bool {
		return !(r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
	}) {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}
