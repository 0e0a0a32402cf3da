// Package replica carries every change through one NATS JetStream log (DESIGN §4): the stream of
// cache.ChangeSets in their versioned wire encoding (wire.go, docs/wire-format.md), and the Log
// that commits a change by publishing it and applies the stream, in order, to a store (log.go,
// reconciling a change applied before in apply.go, a change too big for a message through an
// object store in bigchange.go), so that every replica reaches the same snapshots. Files keeps
// the versions of the folder's files replicas read, so the others' copies follow them byte for
// byte (files.go), and the folder's snapshots for a replica the log cannot bring up to date
// (snapshots.go). The Lease picks the replica that writes a shared folder (lease.go). An embedded
// NATS server (server.go) makes one process a cluster of one. It lives in cache/replica so that
// the top level stays the product's fixed list, and only cmd imports it (STYLE.md §2).
package replica
