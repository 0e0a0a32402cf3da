// Package replica will carry every change through one NATS JetStream log (DESIGN §4): the
// stream of cache.ChangeSets with their versioned wire encoding, the follower that applies them
// in order on every replica, the key-value lease that picks the replica allowed to write a
// shared folder, and snapshots for bootstrapping. It lives in cache/replica so that the top
// level stays the product's fixed list, and only cmd imports it (STYLE.md §2).
//
// It holds no code yet: this release serves one process from memory.
package replica
