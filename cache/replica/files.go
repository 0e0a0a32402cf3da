package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultFilesBucket is the JetStream object store that holds versions of the folder's files;
// snapshotsBucket holds the folder's snapshots.
const (
	DefaultFilesBucket = "sheetsync_files"
	snapshotsBucket    = "sheetsync_snapshots"
)

// filesTTL is how long a file version is kept. A replica that comes back later than this after
// another replica edited a file gets the edit row by row instead of as bytes.
const filesTTL = 7 * 24 * time.Hour

// Files keeps the versions of the folder's files that replicas read from their copy, by name
// and content hash, in a JetStream object store (chunked, so a file may be far bigger than a
// message), so that the other replicas bring their copies to the same bytes (ingest.FileStore).
type Files struct {
	nc        *nats.Conn
	store     jetstream.ObjectStore
	snapshots jetstream.ObjectStore // kept until replaced: a snapshot must outlive the log's limits
}

// OpenFiles opens the object store, creating it if needed with the given number of copies in
// a NATS cluster.
func OpenFiles(ctx context.Context, js jetstream.JetStream, replicas int) (*Files, error) {
	store, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      DefaultFilesBucket,
		Description: "versions of the files of sheetsync's folder, for the other replicas",
		TTL:         filesTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: opening the object store %s: %v", ErrUnavailable, DefaultFilesBucket, err)
	}
	snapshots, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      snapshotsBucket,
		Description: "snapshots of sheetsync's folder, for replicas the change log cannot bring up to date",
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: opening the object store %s: %v", ErrUnavailable, snapshotsBucket, err)
	}
	return &Files{nc: js.Conn(), store: store, snapshots: snapshots}, nil
}

// objectName names a file version: the file's name and its content hash.
func objectName(name string, hash uint64) string {
	return name + "@" + strconv.FormatUint(hash, 16)
}

// Put stores a file version; one already stored is not stored again. The caller checks that
// what r gave hashes to hash, and deletes the version when not.
func (f *Files) Put(ctx context.Context, name string, hash uint64, r io.Reader) error {
	if err := notConnected(f.nc); err != nil {
		return err // fail fast, as commits do
	}
	obj := objectName(name, hash)
	if _, err := f.store.GetInfo(ctx, obj); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return err
	}
	_, err := f.store.Put(ctx, jetstream.ObjectMeta{Name: obj}, r)
	return err
}

// Get returns a file version's bytes; the object store checks their digest as they are read.
func (f *Files) Get(ctx context.Context, name string, hash uint64) (io.ReadCloser, error) {
	return f.store.Get(ctx, objectName(name, hash))
}

// Delete removes a file version, one stored under a name its bytes do not match (the file
// changed while it was being stored).
func (f *Files) Delete(ctx context.Context, name string, hash uint64) error {
	return f.store.Delete(ctx, objectName(name, hash))
}
