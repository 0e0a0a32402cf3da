//go:build race

package ingest

// raceEnabled is set under the race detector, which slows reading a workbook some tenfold:
// tests that read millions of rows or strings skip, as the waits of the live folder's tests are
// bounded for a plain build.
const raceEnabled = true
