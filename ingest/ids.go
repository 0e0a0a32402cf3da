package ingest

import (
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/sheetsync/sheetsync/cache"
)

// stableIDSpace is the UUID namespace of ids derived from row content (see stableIDs).
var stableIDSpace = uuid.MustParse("6f1f0b1e-6c2d-4c55-9a43-5e3b1a0c7d21")

// stableIDs returns, for each row of t.missing, an id derived from the collection name and the
// row's content: a name-based UUID (version 5) of the row's cells, plus how many identical rows
// came before it. They are used when ids cannot be written into the file (--read-only, or the
// file cannot be written): every restart and every replica computes the same ids for the same
// rows, without writing anything. A row edited in the file gets a new id, which Wix sees as the
// old item removed and a new one added.
func (t *tableBuilder) stableIDs(collection string) []string {
	var content []*colBuilder
	for _, c := range t.served() {
		if _, system := cache.SystemFieldType(c.key); !system {
			content = append(content, c)
		}
	}
	seen := map[string]int{}
	ids := make([]string, len(t.missing))
	var b strings.Builder
	for k, i := range t.missing {
		b.Reset()
		b.WriteString(collection)
		for _, c := range content {
			b.WriteByte(0x1f)
			b.WriteString(c.text(i))
		}
		row := b.String()
		n := seen[row]
		seen[row] = n + 1
		ids[k] = uuid.NewSHA1(stableIDSpace, []byte(row+"\x1e"+strconv.Itoa(n))).String()
	}
	return ids
}

// idPatches returns the patches that write ids (one per row of t.missing, in order) into the
// file, dating those rows stamp where both dates are empty, and naming the system columns the
// file lacked. It changes nothing; setIDs does the same to the decoded table once the file is
// written.
func (t *tableBuilder) idPatches(ids []string, stamp int64) []cellPatch {
	if len(t.missing) == 0 {
		return nil // a sheet whose rows all have ids is left as it is
	}
	var patches []cellPatch
	for _, c := range t.added {
		patches = append(patches, cellPatch{record: t.headerR, col: c.pos, value: cache.Text(c.key)})
	}
	idCol := t.byKey[cache.FieldID]
	created, updated := t.byKey[cache.FieldCreatedDate], t.byKey[cache.FieldUpdatedDate]
	for k, i := range t.missing {
		rec := int(t.records.at(i))
		patches = append(patches, cellPatch{record: rec, col: idCol.pos, value: cache.Text(ids[k])})
		if t.undated(i) {
			patches = append(patches,
				cellPatch{record: rec, col: created.pos, value: cache.Time(stamp)},
				cellPatch{record: rec, col: updated.pos, value: cache.Time(stamp)})
		}
	}
	return patches
}

// setIDs puts ids into the rows of t.missing, in order, and when dated also stamps the rows
// that have neither date, as idPatches wrote them into the file.
func (t *tableBuilder) setIDs(ids []string, stamp int64, dated bool) {
	if len(t.missing) == 0 {
		return
	}
	var undated []int
	if dated {
		for _, i := range t.missing {
			if t.undated(i) {
				undated = append(undated, i)
			}
		}
	}
	t.byKey[cache.FieldID].setText(t.missing, ids)
	t.byKey[cache.FieldCreatedDate].setTime(undated, stamp)
	t.byKey[cache.FieldUpdatedDate].setTime(undated, stamp)
}

func (t *tableBuilder) undated(i int) bool {
	return !t.byKey[cache.FieldCreatedDate].has(i) && !t.byKey[cache.FieldUpdatedDate].has(i)
}
