// Package replica carries every change through one NATS JetStream log (DESIGN §4): the stream of
// cache.ChangeSets in their versioned wire encoding (wire.go, docs/wire-format.md), and the Log
// that commits a change by publishing it and applies the stream, in order, to a store (log.go),
// so that every replica reaches the same snapshots. An embedded NATS server (server.go) makes one
// process a cluster of one. Still to come: the key-value lease that picks the replica allowed to
// write a shared folder, snapshots for bootstrapping, and the wiring into serve. It lives in
// cache/replica so that the top level stays the product's fixed list, and only cmd imports it
// (STYLE.md §2).
package replica
