// Package cache holds sheetsync's domain: values, schemas, columnar snapshots of collections,
// the changes that turn one snapshot into the next, the Store of current snapshots and the
// Results cache of derived data.
//
// It sits at the bottom of the flow (DESIGN §4): ingest and httpapi produce ChangeSets, the
// Store (or, when served, the replica log in front of it) applies them, and query reads
// Snapshots. It imports none of sheetsync's packages and knows nothing of files, HTTP or Wix.
package cache
