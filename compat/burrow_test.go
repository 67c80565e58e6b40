package compat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Burrow (LinkedIn's consumer-lag monitor) reads committed offsets straight
// from the __consumer_offsets topic and decodes Kafka's own record format,
// so it proves Rewind stores commits the way Kafka does. It needs ZooKeeper
// for its own coordination: the suite starts one on loopback.

const (
	burrowBin   = "/usr/bin/Burrow" // Debian package burrow
	zkJar       = "/usr/share/java/zookeeper.jar"
	burrowGroup = "compat-burrow-group" // stopped 10 records behind
	burrowLive  = "compat-burrow-caughtup"
	burrowTopic = "compat-burrow"
	// Burrow 1.2 knows Kafka versions up to 2.1.0; it picks its request
	// versions from this.
	burrowKafkaVersion = "2.1.0"
)

const (
	capBurrowTopic   = "topic offsets"
	capBurrowGroup   = "group in __consumer_offsets"
	capBurrowClean   = "reads __consumer_offsets without errors"
	capBurrowLag     = "group lag"
	capBurrowStatus  = "group status"
	burrowTotalLag   = mainRecords - groupRead
	burrowWaitBudget = 60 * time.Second
)

var burrowCaps = []string{capBurrowTopic, capBurrowGroup, capBurrowClean, capBurrowLag, capBurrowStatus}

const burrowScenario = `Burrow runs with ZooKeeper (started by the suite on loopback), its cluster and consumer modules
pointed at Rewind (client profile kafka-version ` + "`" + burrowKafkaVersion + "`" + `, the newest Burrow 1.2 knows; it must be at least
0.11.0, since Rewind serves Fetch from v4). franz-go first
produces 20 records to ` + "`" + burrowTopic + "`" + `, commits offset 10 in group ` + "`" + burrowGroup + "`" + ` and stops, and commits offset 20 in
group ` + "`" + burrowLive + "`" + `. Burrow's HTTP API (v3) must then show: the topic's end offset 20 (topic offsets); both groups
with their committed offsets and commit times, read from __consumer_offsets (group in __consumer_offsets); no errors in
Burrow's log from consuming __consumer_offsets; total lag 10 for the stopped group and 0 for the other (group lag);
and Burrow's verdicts (group status): ERR with the partition STOP for the group that stopped 10 behind (Burrow's
rule for a consumer that no longer commits while lagging), OK for the caught-up group.
`

func burrowAvailable() error {
	var missing []string
	if _, err := os.Stat(burrowBin); err != nil {
		missing = append(missing, burrowBin+" (Debian package burrow)")
	}
	if _, err := os.Stat(zkJar); err != nil {
		missing = append(missing, zkJar+" (Debian package zookeeper)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		missing = append(missing, "java")
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, ", "))
	}
	return nil
}

func runBurrow(t *testing.T, e *env, res *results) {
	row := res.row("Burrow", "tool", burrowCaps, 1000)
	if err := burrowAvailable(); err != nil {
		if required() {
			row.failAll("not installed: " + err.Error())
			t.Errorf("Burrow not installed: %v (REWIND_COMPAT_REQUIRED=1)", err)
			return
		}
		row.notRun("not installed: " + err.Error() + "; " + installHint)
		t.Skipf("Burrow not installed: %v; %s", err, installHint)
	}
	row.setVersion(fmt.Sprintf("Burrow (Debian burrow %s), ZooKeeper (Debian zookeeper %s, run as a standalone server on loopback)", debVersion("burrow"), debVersion("zookeeper")))

	// The group Burrow must find: 20 records, 10 committed.
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	fr := franz{addr: e.addr}
	setup := func() error {
		if err := fr.Create(ctx, []string{burrowTopic}, 1); err != nil {
			return err
		}
		if err := fr.Produce(ctx, burrowTopic, "none", values("burrow", mainRecords, 0)); err != nil {
			return err
		}
		if _, err := fr.GroupConsume(ctx, burrowTopic, burrowGroup, groupRead); err != nil {
			return err
		}
		_, err := fr.GroupConsume(ctx, burrowTopic, burrowLive, mainRecords)
		return err
	}
	commitsFrom := time.Now().Add(-time.Second)
	err := setup()
	commitsTo := time.Now().Add(time.Second)
	if err != nil {
		row.failAll("setup with franz-go failed: " + err.Error())
		return
	}

	dir := t.TempDir()
	zkAddr, err := startZooKeeper(t, dir)
	if err != nil {
		row.failAll("ZooKeeper: " + err.Error())
		return
	}
	httpAddr, burrowLog, err := startBurrow(t, dir, zkAddr, e.addr)
	if err != nil {
		row.failAll("Burrow: " + err.Error())
		return
	}

	api := burrowAPI{base: "http://" + httpAddr + "/v3/kafka/rewind", from: commitsFrom, to: commitsTo}
	var topicErr, groupErr, lagErr, statusErr error
	deadline := time.Now().Add(burrowWaitBudget)
	for {
		topicErr = api.topicOffsets()
		groupErr = api.groupCommitted()
		lagErr, statusErr = api.lag()
		if topicErr == nil && groupErr == nil && lagErr == nil && statusErr == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	timedOut := func(err error) error {
		if err != nil {
			return fmt.Errorf("after %s: %w", burrowWaitBudget, err)
		}
		return nil
	}
	row.set(capBurrowTopic, timedOut(topicErr))
	row.set(capBurrowGroup, timedOut(groupErr))
	row.set(capBurrowLag, timedOut(lagErr))
	row.set(capBurrowStatus, timedOut(statusErr))
	row.set(capBurrowClean, consumeErrors(burrowLog))
	if topicErr != nil || groupErr != nil || lagErr != nil || statusErr != nil {
		t.Logf("Burrow log, last lines other than consume errors:\n%s", burrowLogTail(burrowLog, 15))
	}
}

// consumeErrors reports the errors Burrow's consumer module logged while
// reading __consumer_offsets: how many, on how many partitions, and the first.
func consumeErrors(logPath string) error {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return err
	}
	n := 0
	parts := map[float64]bool{}
	var first map[string]any
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, `"consume error"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		n++
		if p, ok := m["partition"].(float64); ok {
			parts[p] = true
		}
		if first == nil {
			first = m
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("Burrow logged %d \"consume error\" lines for %d partitions of __consumer_offsets, first: topic %v partition %v error %q",
		n, len(parts), first["topic"], first["partition"], first["error"])
}

func burrowLogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, `"consume error"`) {
			keep = append(keep, l)
		}
	}
	return tailLines(strings.Join(keep, "\n"), n)
}

type burrowAPI struct {
	base     string
	from, to time.Time // when the commits were made
}

func (a burrowAPI) get(path string, v any) error {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(a.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
			Status  struct {
				Status string `json:"status"`
			} `json:"status"`
		}
		if json.Unmarshal(body, &e) == nil && e.Status.Status != "" {
			return fmt.Errorf("GET %s: %s, status %s", path, resp.Status, e.Status.Status)
		}
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, short(strings.TrimSpace(string(body)), 200))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (a burrowAPI) topicOffsets() error {
	var r struct {
		Offsets []int64 `json:"offsets"`
	}
	if err := a.get("/topic/"+burrowTopic, &r); err != nil {
		return err
	}
	if !slices.Equal(r.Offsets, []int64{mainRecords}) {
		return fmt.Errorf("topic %s offsets %v, want [%d]", burrowTopic, r.Offsets, mainRecords)
	}
	return nil
}

func (a burrowAPI) groupCommitted() error {
	var list struct {
		Consumers []string `json:"consumers"`
	}
	if err := a.get("/consumer", &list); err != nil {
		return err
	}
	for _, g := range []struct {
		name string
		want int64
	}{{burrowGroup, groupRead}, {burrowLive, mainRecords}} {
		if !slices.Contains(list.Consumers, g.name) {
			return fmt.Errorf("group %s not in Burrow's consumer list %v", g.name, list.Consumers)
		}
		var r struct {
			Topics map[string][]struct {
				Offsets []*struct {
					Offset    int64 `json:"offset"`
					Timestamp int64 `json:"timestamp"`
				} `json:"offsets"`
			} `json:"topics"`
		}
		if err := a.get("/consumer/"+g.name, &r); err != nil {
			return err
		}
		parts := r.Topics[burrowTopic]
		if len(parts) == 0 {
			return fmt.Errorf("group %s has no offsets for %s", g.name, burrowTopic)
		}
		var offset, ts int64 = -1, 0
		for _, o := range parts[0].Offsets {
			if o != nil {
				offset, ts = o.Offset, o.Timestamp
			}
		}
		if offset != g.want {
			return fmt.Errorf("group %s: Burrow's latest commit for %s/0 is %d, want %d", g.name, burrowTopic, offset, g.want)
		}
		if at := time.UnixMilli(ts); at.Before(a.from) || at.After(a.to) {
			return fmt.Errorf("group %s: commit timestamp %d (%s) is not when the commit was made (%s to %s)",
				g.name, ts, at.UTC().Format(time.RFC3339Nano), a.from.UTC().Format(time.RFC3339), a.to.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

type burrowLag struct {
	Status struct {
		Status     string `json:"status"`
		TotalLag   int64  `json:"totallag"`
		Partitions []struct {
			Topic      string `json:"topic"`
			Partition  int32  `json:"partition"`
			CurrentLag int64  `json:"current_lag"`
			Status     string `json:"status"`
		} `json:"partitions"`
	} `json:"status"`
}

func (l burrowLag) partitions() string {
	var ps []string
	for _, p := range l.Status.Partitions {
		ps = append(ps, fmt.Sprintf("%s/%d lag %d %s", p.Topic, p.Partition, p.CurrentLag, p.Status))
	}
	return "[" + strings.Join(ps, ", ") + "]"
}

// lag returns the lag and the status verdicts from the v3 lag endpoint for
// both groups.
func (a burrowAPI) lag() (lagErr, statusErr error) {
	var lagErrs, statusErrs []error
	for _, g := range []struct {
		name, status, partStatus string
		lag                      int64
	}{{burrowGroup, "ERR", "STOP", burrowTotalLag}, {burrowLive, "OK", "OK", 0}} {
		var r burrowLag
		if err := a.get("/consumer/"+g.name+"/lag", &r); err != nil {
			return err, err
		}
		s := r.Status
		if s.TotalLag != g.lag || len(s.Partitions) != 1 || s.Partitions[0].CurrentLag != g.lag {
			lagErrs = append(lagErrs, fmt.Errorf("group %s: totallag %d, want %d (partitions %s)", g.name, s.TotalLag, g.lag, r.partitions()))
		}
		if s.Status != g.status || len(s.Partitions) != 1 || s.Partitions[0].Status != g.partStatus {
			statusErrs = append(statusErrs, fmt.Errorf("group %s: status %q, want %q with the partition %s (partitions %s)", g.name, s.Status, g.status, g.partStatus, r.partitions()))
		}
	}
	return errors.Join(lagErrs...), errors.Join(statusErrs...)
}

// startZooKeeper runs a standalone ZooKeeper on a free loopback port, with
// its admin server off, until the test ends.
func startZooKeeper(t *testing.T, dir string) (string, error) {
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "zoo.cfg")
	conf := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n",
		filepath.Join(dir, "zk"), port)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return "", err
	}
	logPath := filepath.Join(dir, "zookeeper.log")
	if err := startDaemon(t, logPath, "java", "-Xmx256m", "-cp", "/etc/zookeeper/conf:"+zkJar,
		"-Dzookeeper.admin.enableServer=false", "org.apache.zookeeper.server.ZooKeeperServerMain", cfg); err != nil {
		return "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if zkOK(addr) {
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("not serving (srvr) on %s after 30s: %s", addr, tailFile(logPath, 5))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func zkOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	// srvr, unlike ruok, answers "not currently serving requests" until
	// the server accepts sessions.
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	b, _ := io.ReadAll(c)
	return strings.Contains(string(b), "Mode: standalone")
}

// startBurrow writes burrow.toml and runs Burrow until the test ends. It
// returns Burrow's HTTP address and log file once the HTTP API answers.
func startBurrow(t *testing.T, dir, zkAddr, kafkaAddr string) (string, string, error) {
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := fmt.Sprintf(`[general]
pidfile=%q

[logging]
level="info"

[zookeeper]
servers=[%q]
timeout=6
root-path="/burrow"

[client-profile.rewind]
client-id="rewind-compat-burrow"
kafka-version=%q

[cluster.rewind]
class-name="kafka"
servers=[%q]
client-profile="rewind"
topic-refresh=5
offset-refresh=2

[consumer.rewind]
class-name="kafka"
cluster="rewind"
servers=[%q]
client-profile="rewind"
start-latest=false

[httpserver.default]
address=%q

[storage.default]
class-name="inmemory"
workers=4
intervals=10
expire-group=604800
min-distance=1
`, filepath.Join(dir, "burrow.pid"), zkAddr, burrowKafkaVersion, kafkaAddr, kafkaAddr, httpAddr)
	if err := os.WriteFile(filepath.Join(dir, "burrow.toml"), []byte(conf), 0o644); err != nil {
		return "", "", err
	}
	logPath := filepath.Join(dir, "burrow.log")
	if err := startDaemon(t, logPath, burrowBin, "--config-dir", dir); err != nil {
		return "", "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + httpAddr + "/burrow/admin")
		if err == nil {
			resp.Body.Close()
			return httpAddr, logPath, nil
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("HTTP API not answering on %s after 30s: %v: %s", httpAddr, err, tailFile(logPath, 5))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startDaemon starts a long-running process in its own process group,
// logging to logPath, and kills the group when the test ends.
func startDaemon(t *testing.T, logPath, name string, args ...string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	return nil
}
