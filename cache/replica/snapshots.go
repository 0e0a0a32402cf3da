package replica

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Snapshots of the folder (DESIGN §4): each file as a replica last synced it, with what the
// replica's state dir records beside it (the dates it serves that the file does not hold), and
// the log position the file reflects. They live in an object store of their own, without an
// age limit, and are refreshed while replicas run, so a new replica, or one away longer than the log keeps changes, starts
// from them and the log's tail when the log no longer holds every change since the beginning.
const (
	snapshotPrefix = "snapshot/"
	snapshotMeta   = "snapshot-meta/"
	headerSeq      = "Sheetsync-Seq"
)

// Snapshot is one file's snapshot as listed.
type Snapshot struct {
	Name string // the file's name in the folder
	Seq  uint64 // the log position the file reflects: every change up to it is in it
}

// PutSnapshot stores a file's snapshot at seq, replacing an older one; a snapshot at seq or
// later already there is kept.
func (f *Files) PutSnapshot(ctx context.Context, name string, seq uint64, copy io.Reader, meta []byte) error {
	if have, err := f.snapshotSeq(ctx, name); err == nil && have >= seq {
		return nil
	}
	h := nats.Header{}
	h.Set(headerSeq, strconv.FormatUint(seq, 10))
	// the meta first: a snapshot is found by its file, which then has its meta
	if _, err := f.snapshots.Put(ctx, jetstream.ObjectMeta{Name: snapshotMeta + name, Headers: h}, bytes.NewReader(meta)); err != nil {
		return err
	}
	_, err := f.snapshots.Put(ctx, jetstream.ObjectMeta{Name: snapshotPrefix + name, Headers: h}, copy)
	return err
}

func (f *Files) snapshotSeq(ctx context.Context, name string) (uint64, error) {
	info, err := f.snapshots.GetInfo(ctx, snapshotPrefix+name)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(info.Headers.Get(headerSeq), 10, 64)
}

// Snapshots lists the files' snapshots, by name.
func (f *Files) Snapshots(ctx context.Context) ([]Snapshot, error) {
	infos, err := f.snapshots.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	for _, info := range infos {
		name, ok := strings.CutPrefix(info.Name, snapshotPrefix)
		if !ok || info.Deleted {
			continue
		}
		seq, err := strconv.ParseUint(info.Headers.Get(headerSeq), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, Snapshot{Name: name, Seq: seq})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetSnapshot returns a file's snapshot: its bytes and its meta.
func (f *Files) GetSnapshot(ctx context.Context, name string) (io.ReadCloser, []byte, error) {
	meta, err := f.snapshots.GetBytes(ctx, snapshotMeta+name)
	if err != nil {
		return nil, nil, err
	}
	r, err := f.snapshots.Get(ctx, snapshotPrefix+name)
	if err != nil {
		return nil, nil, err
	}
	return r, meta, nil
}

// DeleteSnapshot removes the snapshot of a file that is gone.
func (f *Files) DeleteSnapshot(ctx context.Context, name string) error {
	err := f.snapshots.Delete(ctx, snapshotPrefix+name)
	if err == nil || errors.Is(err, jetstream.ErrObjectNotFound) {
		err = f.snapshots.Delete(ctx, snapshotMeta+name)
	}
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	return err
}
