package tq

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// store is the broker's file: a bbolt database with one record per task,
// by id, and the count of tasks accepted. bbolt commits a transaction with
// a write and an fsync of the pages it changed, then a write and an fsync
// of its meta page, so a commit is all there or not there after a crash
// of the process or of the machine; the broker answers a request only
// after the commit that holds it.
type store struct{ db *bolt.DB }

var (
	bucketTasks = []byte("tasks")
	bucketMeta  = []byte("meta")
	keySeq      = []byte("seq")
)

// openStore opens (or makes) the file at path. A second broker on the same
// file waits up to a second for bbolt's lock, then fails.
func openStore(path string) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("tq: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTasks, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("tq: open %s: %w", path, err)
	}
	return &store{db: db}, nil
}

// load returns every stored task and the count of tasks accepted so far.
func (s *store) load() (map[string]*task, uint64, error) {
	tasks := make(map[string]*task)
	var seq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySeq); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			t := &task{}
			if err := json.Unmarshal(v, &t.TaskInfo); err != nil {
				return fmt.Errorf("task %q: %w", k, err)
			}
			tasks[t.ID] = t
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("tq: load: %w", err)
	}
	return tasks, seq, nil
}

// commit writes the changed tasks, deletes the expired ones and records
// seq, in one transaction.
func (s *store) commit(changed map[string]*task, deleted []string, seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTasks)
		for id, t := range changed {
			v, err := json.Marshal(&t.TaskInfo)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(id), v); err != nil {
				return err
			}
		}
		for _, id := range deleted {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySeq, binary.BigEndian.AppendUint64(nil, seq))
	})
}

func (s *store) close() error { return s.db.Close() }
