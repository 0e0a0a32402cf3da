package replica_test

import (
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/cache/replica"
)

// benchData is the DESIGN §6 load file as a Replace: 1,000,000 rows of ten columns shaped like
// ingest's benchmark CSV (a UUID, names, 10 categories, prices with 2 decimals, quantities,
// booleans, dates, zero-padded skus, 70-character descriptions, ratings), with the size that
// CSV file has, to compare the wire against.
type benchData struct {
	cs       cache.ChangeSet
	rows     int
	csvBytes int
}

var benchReplace = sync.OnceValue(func() *benchData {
	const rows = 1_000_000
	schema := cache.MustSchema(
		cache.Field{Key: cache.FieldID, Type: cache.TypeText},
		cache.Field{Key: "name", Type: cache.TypeText},
		cache.Field{Key: "category", Type: cache.TypeText},
		cache.Field{Key: "price", Type: cache.TypeNumber},
		cache.Field{Key: "qty", Type: cache.TypeNumber},
		cache.Field{Key: "inStock", Type: cache.TypeBoolean},
		cache.Field{Key: "launchDate", Type: cache.TypeDateTime},
		cache.Field{Key: "sku", Type: cache.TypeText},
		cache.Field{Key: "description", Type: cache.TypeText},
		cache.Field{Key: "rating", Type: cache.TypeNumber},
	)
	rnd := rand.New(rand.NewPCG(1, 2))
	words := []string{"steel", "compact", "deluxe", "outdoor", "wireless", "classic", "smart", "heavy-duty",
		"portable", "ergonomic", "vintage", "modular", "quiet", "solar", "foldable", "premium"}
	nouns := []string{"widget", "gadget", "lamp", "kettle", "drill", "backpack", "speaker", "chair",
		"blender", "tent", "monitor", "stroller"}
	categories := []string{"tools", "garden", "kitchen", "toys", "books", "office", "outdoor", "audio",
		"furniture", "baby"}
	phrases := []string{"built to last", "with a two year warranty", "easy to clean", "ships in a gift box",
		"made from recycled materials", "for home and office", "in four colours", "tested by our team"}
	day := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

	bs := make([]*cache.ColumnBuilder, schema.Len())
	for i := range bs {
		bs[i] = cache.NewColumnBuilder(schema.Field(i).Type)
	}
	d := &benchData{rows: rows, csvBytes: len("_id,name,category,price,qty,inStock,launchDate,sku,description,rating\n")}
	var id [16]byte
	var buf []byte
	for i := range rows {
		for k := range id {
			id[k] = byte(rnd.Uint32())
		}
		h := hex.EncodeToString(id[:])
		uuid := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		name := words[rnd.IntN(len(words))] + " " + nouns[rnd.IntN(len(nouns))] + " model " + strconv.Itoa(i)
		category := categories[rnd.IntN(len(categories))]
		cents := (1+rnd.IntN(999))*100 + rnd.IntN(100)
		qty := rnd.IntN(1000)
		inStock := rnd.IntN(2) == 0
		launch := day.AddDate(0, 0, rnd.IntN(3650))
		sku := strconv.Itoa(rnd.IntN(10_000_000))
		for len(sku) < 8 {
			sku = "0" + sku
		}
		desc := "The " + words[rnd.IntN(len(words))] + " " + nouns[rnd.IntN(len(nouns))]
		for range 3 {
			desc += " " + phrases[rnd.IntN(len(phrases))]
		}
		rating := 10 + rnd.IntN(41)

		bs[0].Append(cache.Text(uuid))
		bs[1].Append(cache.Text(name))
		bs[2].Append(cache.Text(category))
		bs[3].Append(cache.Number(float64(cents) / 100))
		bs[4].Append(cache.Number(float64(qty)))
		bs[5].Append(cache.Bool(inStock))
		bs[6].Append(cache.Time(launch.UnixMilli()))
		bs[7].Append(cache.Text(sku))
		bs[8].Append(cache.Text(desc))
		bs[9].Append(cache.Number(float64(rating) / 10))

		// the row as the CSV file has it
		buf = append(buf[:0], uuid...)
		buf = append(append(buf, ','), name...)
		buf = append(append(buf, ','), category...)
		buf = strconv.AppendFloat(append(buf, ','), float64(cents)/100, 'f', 2, 64)
		buf = strconv.AppendInt(append(buf, ','), int64(qty), 10)
		buf = strconv.AppendBool(append(buf, ','), inStock)
		buf = launch.AppendFormat(append(buf, ','), time.DateOnly)
		buf = append(append(buf, ','), sku...)
		buf = append(append(buf, ','), desc...)
		buf = strconv.AppendFloat(append(buf, ','), float64(rating)/10, 'f', 1, 64)
		d.csvBytes += len(buf) + 1
	}
	t := &cache.Table{Schema: schema}
	for _, b := range bs {
		t.Columns = append(t.Columns, b.Build())
	}
	d.cs = cache.ChangeSet{Collection: "products", Origin: cache.Origin{Kind: cache.OriginFile, Replica: "replica-a", Path: "products.csv"}, Replace: t}
	return d
})

func reportSize(b *testing.B, d *benchData, wire int) {
	b.ReportMetric(float64(wire)/float64(d.rows), "wire-B/row")
	b.ReportMetric(float64(d.csvBytes)/float64(d.rows), "csv-B/row")
	b.ReportMetric(float64(wire)/float64(d.csvBytes), "wire/csv")
}

// BenchmarkEncodeReplace1M encodes a whole-file Replace of a million rows. MB/s is of the
// encoded bytes.
func BenchmarkEncodeReplace1M(b *testing.B) {
	d := benchReplace()
	enc, err := replica.EncodeChange(d.cs)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := replica.EncodeChange(d.cs); err != nil {
			b.Fatal(err)
		}
	}
	reportSize(b, d, len(enc))
}

// BenchmarkDecodeReplace1M decodes it, after checking once, untimed, that it comes back whole.
func BenchmarkDecodeReplace1M(b *testing.B) {
	d := benchReplace()
	enc, err := replica.EncodeChange(d.cs)
	if err != nil {
		b.Fatal(err)
	}
	got, err := replica.DecodeChange(enc)
	if err != nil {
		b.Fatal(err)
	}
	if diff := diffChange(got, d.cs); diff != "" {
		b.Fatal(diff)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := replica.DecodeChange(enc); err != nil {
			b.Fatal(err)
		}
	}
	reportSize(b, d, len(enc))
}

// oneRowUpdate is the common API write: a few fields of one item, one of them emptied.
var oneRowUpdate = cache.ChangeSet{
	Collection: "products", Origin: cache.Origin{Kind: cache.OriginAPI, Replica: "replica-a"}, BaseVersion: 123456,
	Update: []cache.Item{{
		cache.FieldID: cache.Text("0b8e4a52-9a3c-4f61-8d2e-3c5b7a1e9f04"),
		"name":        cache.Text("steel lamp model 7"),
		"price":       cache.Number(19.99),
		"qty":         cache.Null(),
	}},
}

func BenchmarkEncodeUpdateOneRow(b *testing.B) {
	enc, err := replica.EncodeChange(oneRowUpdate)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := replica.EncodeChange(oneRowUpdate); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "wire-B")
}

func BenchmarkDecodeUpdateOneRow(b *testing.B) {
	enc, err := replica.EncodeChange(oneRowUpdate)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := replica.DecodeChange(enc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "wire-B")
}
