package statelog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/signals"
)

// ErrNoCheckpoint means the log holds no checkpoint yet: a first start.
var ErrNoCheckpoint = errors.New("no checkpoint")

// Restored is the last checkpoint as read back: its commit, the commit's
// own sequence in RISK_STATE, and the records it stands on in log order
// (a later record of a customer or profile replaces an earlier one).
type Restored struct {
	Commit    Commit
	CommitSeq uint64
	Customers []*book.Customer
	Profiles  []*signals.Profile
	Bytes     int64
}

// Restore reads the last checkpoint and makes the log continue from it.
// Chunks after the commit belong to a checkpoint that crashed before its
// commit: they are deleted. Left in the log they would sit between the
// base and the next commit and count as part of it, and they may hold the
// effect of messages whose alerts died with the process: the replay would
// skip those messages for their customers and the alerts would never be
// sent. Restore runs before anything writes the log, so nothing is lost.
//
// A commit of another epoch (the partition's previous owner, or none) is
// restored as it is, and the next checkpoint writes a full image: records
// of that epoch written after its last commit (a deposed owner that has
// not noticed yet) may interleave with this one's, and are skipped by
// epoch, which only works if nothing of the old epoch is needed.
func (l *Log) Restore(ctx context.Context) (Restored, error) {
	r, err := read(ctx, l.js, l.part, true)
	if err != nil {
		return r, err
	}
	l.base, l.imageBytes, l.deltaBytes = r.Commit.Base, r.Commit.ImageBytes, r.Commit.DeltaBytes
	l.lastCommit = r.CommitSeq
	if r.Commit.Epoch != l.part.Epoch {
		l.base = 0
	}
	return r, nil
}

// read reads the last commit and the chunks from its Base up to it,
// decoding chunks on every CPU while the next ones arrive. With cut it
// deletes what follows the commit.
func read(ctx context.Context, js jetstream.JetStream, part Part, cut bool) (Restored, error) {
	var out Restored
	s, err := js.Stream(ctx, api.StateStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, ErrNoCheckpoint
	} else if err != nil {
		return out, fmt.Errorf("stream %s: %w", api.StateStream, err)
	}
	last, err := s.GetLastMsgForSubject(ctx, part.Commit)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		if cut {
			// Chunks without any commit: a first checkpoint that crashed.
			var opts []jetstream.StreamPurgeOpt
			if part.Filter != "" {
				opts = append(opts, jetstream.WithPurgeSubject(part.Filter))
			}
			if err := s.Purge(ctx, opts...); err != nil {
				return out, fmt.Errorf("drop an uncommitted checkpoint: %w", err)
			}
		}
		return out, ErrNoCheckpoint
	} else if err != nil {
		return out, fmt.Errorf("read checkpoint commit: %w", err)
	}
	if err := json.Unmarshal(last.Data, &out.Commit); err != nil {
		return out, fmt.Errorf("checkpoint commit %d is corrupt: %w", last.Sequence, err)
	}
	out.CommitSeq = last.Sequence
	if out.Commit.Base == 0 || out.Commit.Base >= out.CommitSeq {
		return out, fmt.Errorf("checkpoint commit %d: base %d is not before it", last.Sequence, out.Commit.Base)
	}
	results, bytes, err := decodeChunks(ctx, s, part.Records, out.Commit.Epoch, out.Commit.Base, out.CommitSeq)
	if err != nil {
		return out, err
	}
	out.Bytes = bytes
	if cut {
		if err := cutAfter(ctx, s, part, out.CommitSeq); err != nil {
			return out, err
		}
	}
	n, np := 0, 0
	for _, r := range results {
		n += len(r.customers)
		np += len(r.profiles)
	}
	out.Customers = make([]*book.Customer, 0, n)
	out.Profiles = make([]*signals.Profile, 0, np)
	for _, r := range results {
		out.Customers = append(out.Customers, r.customers...)
		out.Profiles = append(out.Profiles, r.profiles...)
	}
	return out, nil
}

// chunk is what one chunk holds, in its order.
type chunk struct {
	customers []*book.Customer
	profiles  []*signals.Profile
}

// decodeChunks reads the chunks in [from, to) and decodes them on every
// CPU while the next ones are read; the results come in log order.
func decodeChunks(ctx context.Context, s jetstream.Stream, subject string, epoch, from, to uint64) ([]*chunk, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		seq  uint64
		data []byte
		res  *chunk
	}
	jobs := make(chan job, 2*runtime.GOMAXPROCS(0))
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := decodeChunk(j.data, j.res); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("state chunk %d: %w", j.seq, err); cancel() })
				}
			}
		})
	}
	var results []*chunk
	var bytes int64
	readErr := ingest.ReadAll(ctx, s, []string{subject}, from, func(m jetstream.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if md.Sequence.Stream >= to {
			return ingest.ErrStop // a checkpoint that did not commit
		}
		if chunkEpoch(m) != epoch {
			return nil // a deposed owner's, written after its last commit
		}
		r := new(chunk)
		results = append(results, r)
		bytes += int64(len(m.Data()))
		select {
		case jobs <- job{seq: md.Sequence.Stream, data: m.Data(), res: r}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	if readErr != nil {
		return nil, 0, fmt.Errorf("read state chunks %d to %d: %w", from, to, readErr)
	}
	return results, bytes, nil
}

// decodeChunk decodes the entries of a chunk into r.
func decodeChunk(data []byte, r *chunk) error {
	for off := 0; off < len(data); {
		kind := data[off]
		n, k := uvarint(data[off+1:])
		if k <= 0 || n > uint64(len(data)-off-1-k) {
			return fmt.Errorf("entry at byte %d: bad length", off)
		}
		body := data[off+1+k : off+1+k+int(n)]
		switch kind {
		case entryCustomer:
			c := new(book.Customer)
			if err := decodeCustomer(body, c); err != nil {
				return fmt.Errorf("customer record at byte %d: %w", off, err)
			}
			r.customers = append(r.customers, c)
		case entryProfile:
			p, err := decodeProfile(body)
			if err != nil {
				return fmt.Errorf("profile at byte %d: %w", off, err)
			}
			r.profiles = append(r.profiles, p)
		default:
			return fmt.Errorf("entry at byte %d: unknown kind 0x%02x", off, kind)
		}
		off += 1 + k + int(n)
	}
	return nil
}

// chunkEpoch is the epoch a chunk was written under; 0 without one.
func chunkEpoch(m jetstream.Msg) uint64 {
	h := m.Headers().Get(EpochHeader)
	if h == "" {
		return 0
	}
	e, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return 0
	}
	return e
}

// cutAfter deletes what follows the commit at commitSeq.
func cutAfter(ctx context.Context, s jetstream.Stream, part Part, commitSeq uint64) error {
	// Only this log's messages: other partitions' logs may share the
	// stream.
	var seqs []uint64
	err := ingest.ReadAll(ctx, s, []string{part.Records, part.Commit}, commitSeq+1, func(m jetstream.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		seqs = append(seqs, md.Sequence.Stream)
		return nil
	})
	if err != nil {
		return fmt.Errorf("find the uncommitted checkpoint: %w", err)
	}
	for _, seq := range seqs {
		if err := s.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("drop the uncommitted checkpoint at %d: %w", seq, err)
		}
	}
	return nil
}
