package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var exe string // the example, built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "topics-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exe = filepath.Join(dir, "topics")
	out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// What goleak.VerifyTestMain does, with the build directory
		// removed first.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cluster is a leader and its follower, started on fresh directories.
type cluster struct {
	leader, follower *proc
	brokers          string // both endpoints, for -brokers
}

func startCluster(ctx context.Context, t *testing.T, partitions int) *cluster {
	t.Helper()
	dir := t.TempDir()
	n := strconv.Itoa(partitions)
	leader := start(t, "leader", "broker", "-dir", filepath.Join(dir, "leader"),
		"-bind", "tcp://127.0.0.1:0", "-partitions", n)
	lep := strings.Fields(endpoint(ctx, leader, " partitions on "))[0]
	lep = strings.TrimSuffix(lep, ",")
	follower := start(t, "follower", "broker", "-dir", filepath.Join(dir, "follower"),
		"-bind", "tcp://127.0.0.1:0", "-partitions", n, "-follow", lep)
	fep := strings.TrimSuffix(strings.Fields(endpoint(ctx, follower, " on "))[0], ",")
	return &cluster{leader: leader, follower: follower, brokers: lep + "," + fep}
}

// gotLine is a consumer's line for a record it handled.
var gotLine = regexp.MustCompile(`^(\S+) got p=(\d+) o=(\d+) (key-\d+)=(\d+)$`)

// sessionLine starts a consumer's run over a partition, at an offset.
var sessionLine = regexp.MustCompile(`^(\S+): partition (\d+) from offset (\d+)$`)

// generationLine is a member's new assignment.
var generationLine = regexp.MustCompile(`^(\S+): generation (\d+), assigned partitions \[([\d ]*)\]$`)

// assignment returns the last generation m printed and its partitions.
func assignment(m *proc) (string, []int) {
	lines := m.all()
	for i := len(lines) - 1; i >= 0; i-- {
		if g := generationLine.FindStringSubmatch(lines[i]); g != nil {
			var ps []int
			for _, f := range strings.Fields(g[3]) {
				p, _ := strconv.Atoi(f)
				ps = append(ps, p)
			}
			return g[2], ps
		}
	}
	return "", nil
}

// replayLine is one record printed by replay.
var replayLine = regexp.MustCompile(`^p=(\d+) o=(\d+) (key-\d+)=(\d+)$`)

type rec struct {
	key   string
	value int
}

// consumed checks what members printed and returns every record they
// handled, by partition and offset. Within each run over a partition (from
// a "from offset" line to the next) the offsets must follow each other from
// the run's first, and each key's values go up by exactly one: the log's
// order, per key. A record seen twice (by two members, or by one after a
// rebalance) must be the same record.
func consumed(t *testing.T, members ...*proc) map[int]map[int]rec {
	t.Helper()
	seen := make(map[int]map[int]rec)
	for _, m := range members {
		next := make(map[int]int)            // partition -> next offset expected in the current run
		last := make(map[int]map[string]int) // partition -> key -> last value in the current run
		for _, l := range m.all() {
			if s := sessionLine.FindStringSubmatch(l); s != nil {
				p, _ := strconv.Atoi(s[2])
				next[p], _ = strconv.Atoi(s[3])
				last[p] = make(map[string]int)
				continue
			}
			g := gotLine.FindStringSubmatch(l)
			if g == nil {
				continue
			}
			p, _ := strconv.Atoi(g[2])
			o, _ := strconv.Atoi(g[3])
			v, _ := strconv.Atoi(g[5])
			if last[p] == nil {
				t.Fatalf("%s: %q before any run over partition %d", m.name, l, p)
			}
			if o != next[p] {
				t.Fatalf("%s: %q: want offset %d next in partition %d", m.name, l, next[p], p)
			}
			next[p]++
			if prev, ok := last[p][g[4]]; ok && v != prev+1 {
				t.Fatalf("%s: %q after %s=%d: out of key order", m.name, l, g[4], prev)
			}
			last[p][g[4]] = v
			if seen[p] == nil {
				seen[p] = make(map[int]rec)
			}
			r := rec{g[4], v}
			if old, ok := seen[p][o]; ok && old != r {
				t.Fatalf("%s: %q, but partition %d offset %d was %s=%d before", m.name, l, p, o, old.key, old.value)
			}
			seen[p][o] = r
		}
	}
	return seen
}

// keyValues is, per key, how many distinct values the records hold.
func keyValues(seen map[int]map[int]rec) map[string]map[int]bool {
	kv := make(map[string]map[int]bool)
	for _, part := range seen {
		for _, r := range part {
			if kv[r.key] == nil {
				kv[r.key] = make(map[int]bool)
			}
			kv[r.key][r.value] = true
		}
	}
	return kv
}

// missing counts the records of keys key-000 .. key-(keys-1), values 1 to
// perKey each, that are not in kv.
func missing(kv map[string]map[int]bool, keys, perKey int) int {
	n := 0
	for k := 0; k < keys; k++ {
		vs := kv[fmt.Sprintf("key-%03d", k)]
		for v := 1; v <= perKey; v++ {
			if !vs[v] {
				n++
			}
		}
	}
	return n
}

// TestPartitionsGroupsFailover is the acceptance test: 100,000 keyed
// records into 4 partitions, a group of 3 members, one member and then the
// leader killed with SIGKILL while records flow. Every record the producer
// had acknowledged (committed) must be consumed at least once, each key's
// in order, nothing lost; the follower, now leader, must replay each
// partition from offset 0 with every record exactly once, in key order.
func TestPartitionsGroupsFailover(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the processes with signals")
	}
	const (
		total = 100000
		keys  = 100
		parts = 4
	)
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	c := startCluster(ctx, t, parts)

	members := map[string]*proc{}
	for _, name := range []string{"ann", "bob", "cid"} {
		members[name] = start(t, name, "consume", "-group", "g", "-name", name, "-brokers", c.brokers)
	}
	// Every member has its partitions before records flow.
	for _, m := range members {
		m.waitLine(ctx, 0, func(l, _ string) bool { return strings.Contains(l, ": generation ") && !strings.HasSuffix(l, "[]") })
	}
	// 4 s of records at this rate, so both kills land while they flow.
	producer := start(t, "producer", "produce", "-brokers", c.brokers,
		"-count", strconv.Itoa(total), "-keys", strconv.Itoa(keys), "-rate", "25000")

	// bob dies in the middle of consuming; his partitions go to the others.
	bob := members["bob"]
	bob.waitLine(ctx, 0, func(l, _ string) bool {
		m := gotLine.FindStringSubmatch(l)
		return m != nil && len(m[3]) >= 4 // past offset 1000
	})
	bob.kill()
	bob.wait(ctx)
	t.Logf("%v: bob killed", time.Since(begin).Round(time.Millisecond))

	// The leader dies with half the records committed; the follower
	// takes over, and the producer and the members move to it.
	producer.waitLine(ctx, 0, equal, "acknowledged 50000")
	c.leader.kill()
	c.leader.wait(ctx)
	t.Logf("%v: leader killed", time.Since(begin).Round(time.Millisecond))
	c.follower.waitLine(ctx, 0, strings.Contains, ": taking over as leader")

	if err := producer.wait(ctx); err != nil {
		t.Fatalf("producer: %v\n%s", err, producer.output())
	}
	producer.waitLine(ctx, 0, equal, fmt.Sprintf("produced %d records, %d acknowledged (committed)", total, total))
	t.Logf("%v: all %d records committed", time.Since(begin).Round(time.Millisecond), total)

	// The survivors consume everything, bob's partitions included.
	ann, cid := members["ann"], members["cid"]
	all := []*proc{ann, bob, cid}
	for {
		if n := missing(keyValues(consumed(t, all...)), keys, total/keys); n == 0 {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("%d committed records never consumed\n%s\n%s", n, ann.output(), cid.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%v: every record consumed", time.Since(begin).Round(time.Millisecond))
	// The group rebalanced without bob: ann and cid share the partitions,
	// each partition to one of them, in the same generation.
	for {
		ga, pa := assignment(ann)
		gc, pc := assignment(cid)
		owners := make(map[int]int)
		for _, p := range append(pa, pc...) {
			owners[p]++
		}
		if ga == gc && len(owners) == parts && len(pa)+len(pc) == parts {
			t.Logf("%v: generation %s: ann has partitions %v, cid %v", time.Since(begin).Round(time.Millisecond), ga, pa, pc)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no generation with ann and cid sharing the %d partitions: ann %s %v, cid %s %v", parts, ga, pa, gc, pc)
		}
		time.Sleep(100 * time.Millisecond)
	}
	seen := consumed(t, all...)

	// Replay from offset 0 at the new leader: the log, each record once.
	// (Each replay first asks the dead leader, the first of -brokers,
	// and moves on after its attempt timeout.)
	replayed := 0
	perKey := make(map[string]int)
	replays := make([]*proc, parts)
	for p := range replays {
		replays[p] = start(t, fmt.Sprintf("replay %d", p), "replay", "-brokers", c.brokers, "-partition", strconv.Itoa(p), "-from", "0")
	}
	for p, r := range replays {
		if err := r.wait(ctx); err != nil {
			t.Fatalf("replay %d: %v\n%s", p, err, r.output())
		}
		o := 0
		for _, l := range r.all() {
			m := replayLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			if m[1] != strconv.Itoa(p) || m[2] != strconv.Itoa(o) {
				t.Fatalf("replay %d: %q, want offset %d", p, l, o)
			}
			if partitionOf([]byte(m[3]), parts) != p {
				t.Fatalf("replay %d: %q: the key belongs to partition %d", p, l, partitionOf([]byte(m[3]), parts))
			}
			v, _ := strconv.Atoi(m[4])
			if v != perKey[m[3]]+1 {
				t.Fatalf("replay %d: %q after %s=%d: want each key's records once, in order", p, l, m[3], perKey[m[3]])
			}
			perKey[m[3]] = v
			if got, ok := seen[p][o]; !ok || got != (rec{m[3], v}) {
				t.Fatalf("replay %d: %q, but the members consumed %v at that offset", p, l, got)
			}
			o++
		}
		r.waitLine(ctx, 0, equal, fmt.Sprintf("replayed partition %d from 0 to %d", p, o))
		replayed += o
	}
	if replayed != total {
		t.Fatalf("replay: %d records in the partitions, want %d: the idempotent producer appends each once", replayed, total)
	}
	dups := 0
	for _, m := range all {
		for _, l := range m.all() {
			if gotLine.MatchString(l) {
				dups++
			}
		}
	}
	dups -= total
	t.Logf("%v: %d records replayed; %d handled twice after the rebalance and the failover (at least once)",
		time.Since(begin).Round(time.Millisecond), replayed, dups)
	for _, p := range []*proc{ann, cid, c.follower} {
		p.interrupt()
		if err := p.wait(ctx); err != nil {
			t.Fatalf("%s: %v\n%s", p.name, err, p.output())
		}
	}
	t.Logf("%v: ann, cid and the new leader stopped", time.Since(begin).Round(time.Millisecond))
}

// countGot is how many records m printed.
func countGot(m *proc) int {
	n := 0
	for _, l := range m.all() {
		if gotLine.MatchString(l) {
			n++
		}
	}
	return n
}

// TestResumeFromCommittedOffset: a member that leaves and comes back
// resumes each partition at its group's committed offset, skipping what it
// handled; a replay reads a partition from any offset; a member of another
// group starts where its own group left off (nowhere: offset 0).
func TestResumeFromCommittedOffset(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the processes with signals")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const parts = 3
	c := startCluster(ctx, t, parts)
	produceN := func(n int) {
		t.Helper()
		p := start(t, "producer", "produce", "-brokers", c.brokers, "-count", strconv.Itoa(n), "-keys", "10")
		if err := p.wait(ctx); err != nil {
			t.Fatalf("producer: %v\n%s", err, p.output())
		}
	}
	consumeAll := func(name, group string, n int) *proc {
		t.Helper()
		m := start(t, name, "consume", "-group", group, "-name", "xan", "-brokers", c.brokers)
		for countGot(m) < n && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		m.interrupt()
		if err := m.wait(ctx); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, m.output())
		}
		if got := countGot(m); got != n {
			t.Fatalf("%s: handled %d records, want %d\n%s", name, got, n, m.output())
		}
		m.waitLine(ctx, 0, equal, "xan: left group "+group)
		return m
	}

	produceN(2000)
	first := consumeAll("xan", "g", 2000)
	ends := make(map[int]int) // partition -> offset after the last record
	for p, recs := range consumed(t, first) {
		ends[p] = len(recs)
	}
	produceN(1000)
	again := consumeAll("xan again", "g", 1000)
	for p := 0; p < parts; p++ {
		again.waitLine(ctx, 0, equal, fmt.Sprintf("xan: partition %d from offset %d", p, ends[p]))
	}
	seen := consumed(t, first, again)
	total := 0
	for _, recs := range seen {
		total += len(recs)
	}
	if total != 3000 {
		t.Fatalf("xan's two runs handled %d distinct records, want 3000, each once", total)
	}

	// A replay from the middle of partition 0 is the log from there.
	from := ends[0] / 2
	r := start(t, "replay", "replay", "-brokers", c.brokers, "-partition", "0", "-from", strconv.Itoa(from))
	if err := r.wait(ctx); err != nil {
		t.Fatalf("replay: %v\n%s", err, r.output())
	}
	o := from
	for _, l := range r.all() {
		m := replayLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[4])
		if m[2] != strconv.Itoa(o) || seen[0][o] != (rec{m[3], v}) {
			t.Fatalf("replay: %q, want offset %d: %v", l, o, seen[0][o])
		}
		o++
	}
	if o != len(seen[0]) {
		t.Fatalf("replay ended at offset %d, want %d", o, len(seen[0]))
	}

	// Another group has committed nothing: it starts at offset 0.
	other := consumeAll("xan in h", "h", 3000)
	for p := 0; p < parts; p++ {
		other.waitLine(ctx, 0, equal, fmt.Sprintf("xan: partition %d from offset 0", p))
	}
	for _, p := range []*proc{c.leader, c.follower} {
		p.interrupt()
		if err := p.wait(ctx); err != nil {
			t.Fatalf("%s: %v\n%s", p.name, err, p.output())
		}
	}
}

// TestCommittedOnlyOnceReplicated: a leader whose follower is not there
// appends records but commits none: the producer gets no acknowledgement
// and a member sees nothing, until the follower starts and copies them.
func TestCommittedOnlyOnceReplicated(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the processes with signals")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	leader := start(t, "leader", "broker", "-dir", filepath.Join(dir, "leader"), "-bind", "tcp://127.0.0.1:0", "-partitions", "2")
	lep := strings.TrimSuffix(strings.Fields(endpoint(ctx, leader, " partitions on "))[0], ",")
	producer := startWithInput(t, "producer", "produce", "-brokers", lep)
	member := start(t, "member", "consume", "-group", "g", "-name", "mae", "-brokers", lep)
	member.waitLine(ctx, 0, strings.Contains, "mae: partition 1 from offset 0")
	producer.write("alpha 1\n")
	time.Sleep(time.Second)
	for _, p := range []*proc{producer, member} {
		for _, l := range p.all() {
			if strings.HasPrefix(l, "committed ") || gotLine.MatchString(l) {
				t.Fatalf("%s: %q before the follower had the record", p.name, l)
			}
		}
	}
	start(t, "follower", "broker", "-dir", filepath.Join(dir, "follower"), "-bind", "tcp://127.0.0.1:0",
		"-partitions", "2", "-follow", lep)
	producer.waitLine(ctx, 0, strings.HasPrefix, "committed 1 to partition ")
	member.waitLine(ctx, 0, func(l, _ string) bool { return strings.HasPrefix(l, "mae got ") && strings.HasSuffix(l, " alpha=1") })
	producer.closeInput()
	if err := producer.wait(ctx); err != nil {
		t.Fatalf("producer: %v\n%s", err, producer.output())
	}
}

// TestFrozenLeaderCommitsNothingAfterTakeover is the split brain: the
// leader is frozen (SIGSTOP) long enough for the follower to take over,
// then thawed, alive and reachable again. Both now say they lead. The old
// one can commit nothing more, since committing needs the follower, which
// no longer copies from it: the producer, unanswered there, moves to the
// new leader, and the old one serves only what was committed before.
func TestFrozenLeaderCommitsNothingAfterTakeover(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("freezes a process with SIGSTOP")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := startCluster(ctx, t, 1)
	producer := startWithInput(t, "producer", "produce", "-brokers", c.brokers)
	producer.write("k 1\n")
	producer.waitLine(ctx, 0, equal, "committed 1 to partition 0, which ends at offset 1")

	c.leader.signal(syscall.SIGSTOP)
	c.follower.waitLine(ctx, 0, strings.Contains, ": taking over as leader")
	c.leader.signal(syscall.SIGCONT)

	// The producer asks the old leader first; it appends the record but
	// cannot commit it, answers unavailable, and the producer sends it
	// to the new leader, which commits it.
	producer.write("k 2\n")
	producer.waitLine(ctx, 0, equal, "committed 1 to partition 0, which ends at offset 2")
	producer.closeInput()
	if err := producer.wait(ctx); err != nil {
		t.Fatalf("producer: %v\n%s", err, producer.output())
	}

	replayAt := func(name, brokers string) []string {
		r := start(t, name, "replay", "-brokers", brokers, "-partition", "0")
		if err := r.wait(ctx); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, r.output())
		}
		return r.all()
	}
	eps := strings.Split(c.brokers, ",")
	if got, want := replayAt("replay at the new leader", eps[1]), []string{"p=0 o=0 k=1", "p=0 o=1 k=2", "replayed partition 0 from 0 to 2"}; !slices.Equal(got, want) {
		t.Errorf("the new leader: got %q, want %q", got, want)
	}
	// The old leader has k=2 in its log too (appended before it gave
	// up), but never committed it, so it does not serve it.
	if got, want := replayAt("replay at the old leader", eps[0]), []string{"p=0 o=0 k=1", "replayed partition 0 from 0 to 1"}; !slices.Equal(got, want) {
		t.Errorf("the old leader: got %q, want %q", got, want)
	}
}
