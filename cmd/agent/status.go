package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/logship/logship/internal/checkpoint"
	"github.com/logship/logship/internal/config"
)

// statusDoc is the document of GET /status and of `logship status -json`.
type statusDoc struct {
	// Source is "agent" (live, from the running agent) or "checkpoint"
	// (read from the checkpoint file of a stopped or unreachable agent).
	Source        string           `json:"source"`
	Version       string           `json:"version,omitempty"`
	Now           time.Time        `json:"now"`
	Started       time.Time        `json:"started,omitzero"`
	Ready         bool             `json:"ready"`
	NotReady      string           `json:"not_ready,omitempty"`
	LastAck       time.Time        `json:"last_ack,omitzero"`
	InflightBytes int64            `json:"inflight_bytes"`
	Checkpoint    string           `json:"checkpoint,omitempty"` // the file read, for source checkpoint
	Pipelines     []pipelineStatus `json:"pipelines"`
}

type pipelineStatus struct {
	Name  string       `json:"name"`
	Topic string       `json:"topic,omitempty"`
	Files []fileStatus `json:"files"`
	// Unlisted are the directories of the globs the last rescan could not
	// list: their files keep their state, new ones are not found.
	Unlisted []dirStatus `json:"unlisted_dirs,omitempty"`
}

type dirStatus struct {
	Path   string    `json:"path"`
	Reason string    `json:"reason"`
	Error  string    `json:"error"`
	Since  time.Time `json:"since"`
}

type fileStatus struct {
	Path      string    `json:"path"`
	Device    uint64    `json:"device"`
	Inode     uint64    `json:"inode"`
	Offset    int64     `json:"offset"`
	Size      int64     `json:"size"` // -1: the file is gone
	Unshipped int64     `json:"unshipped"`
	Pending   int       `json:"pending_records"`
	LastAck   time.Time `json:"last_ack,omitzero"`
	State     string    `json:"state"`
}

// status builds the live document for /status. Called from HTTP handler
// goroutines.
func (a *agent) status() statusDoc {
	a.mu.Lock()
	pipes := a.pipes
	a.mu.Unlock()
	doc := statusDoc{
		Source:        "agent",
		Version:       version,
		Now:           time.Now(),
		Started:       a.started,
		LastAck:       a.producer.LastAck(),
		InflightBytes: a.budget.InUse(),
		Pipelines:     []pipelineStatus{},
	}
	if err := a.ready.Check(); err != nil {
		doc.NotReady = err.Error()
	} else {
		doc.Ready = true
	}
	for _, p := range pipes {
		ps := pipelineStatus{Name: p.cfg.Name, Topic: p.cfg.Topic, Files: []fileStatus{}}
		for _, f := range p.tailer.Status() {
			ps.Files = append(ps.Files, fileStatus{
				Path: f.Path, Device: f.Device, Inode: f.Inode, Offset: f.Offset, Size: f.Size,
				Unshipped: f.Unshipped, Pending: f.Pending, LastAck: f.LastAck, State: f.State,
			})
		}
		for _, d := range p.tailer.DiscoveryErrors() {
			ps.Unlisted = append(ps.Unlisted, dirStatus{Path: d.Path, Reason: d.Reason, Error: d.Error, Since: d.Since})
		}
		doc.Pipelines = append(doc.Pipelines, ps)
	}
	return doc
}

// cmdStatus prints the pipelines and files of the running agent, asked on
// its HTTP endpoint; when the agent cannot be reached it prints the last
// checkpoint instead, says so, and exits 3.
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	c := newCommand("status", "[-config FILE] [-json]", `Prints the pipelines and files of the running agent, asked on its HTTP
endpoint (http.listen): offset, size, unshipped bytes, last acknowledgement
and state per file, and whether the agent is ready.

When the agent cannot be reached, it prints the last checkpoint instead
(source "checkpoint" in JSON), says "agent not reachable" on the first line
of the table, and exits 3: the output is what a stopped agent left, not
live state.
`)
	c.configFlag()
	asJSON := c.fs.Bool("json", false, "print the status document as JSON")
	cfg, code := c.parseConfig(args, stdout, stderr)
	if cfg == nil {
		return code
	}
	var err error
	doc, liveErr := fetchStatus(cfg.HTTP.Listen)
	if liveErr != nil {
		doc, err = checkpointStatus(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "logship status: agent not reachable (%v) and no checkpoint: %v\n", liveErr, err)
			return exitFailure
		}
	}
	done := exitOK
	if liveErr != nil {
		done = exitStale
	}
	if *asJSON {
		if err := writeJSON(stdout, doc); err != nil {
			return exitFailure
		}
		return done
	}
	if liveErr != nil {
		fmt.Fprintf(stdout, "agent not reachable (%s)\n", termSafe(liveErr.Error()))
	}
	if err := renderStatus(stdout, doc); err != nil {
		return exitFailure
	}
	return done
}

// fetchStatus asks the agent listening on listen (the http.listen setting)
// for its status document. Wildcard listen addresses are reached on
// loopback.
func fetchStatus(listen string) (statusDoc, error) {
	var doc statusDoc
	if listen == "" {
		return doc, errors.New("http.listen is empty, the endpoint is disabled")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return doc, fmt.Errorf("http.listen %q: %w", listen, err)
	}
	switch host {
	case "0.0.0.0", "":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/status"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return doc, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // it repeats the method and URL
		}
		return doc, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return doc, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return doc, fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return doc, nil
}

// checkpointStatus reads the checkpoint file read-only (safe while an agent
// runs) and the current sizes of its files.
func checkpointStatus(cfg *config.Config) (statusDoc, error) {
	file := filepath.Join(cfg.Agent.DataDir, checkpoint.FileName)
	entries, err := checkpoint.ReadFile(file)
	if err != nil {
		return statusDoc{}, err
	}
	doc := statusDoc{Source: "checkpoint", Now: time.Now(), Checkpoint: file, Pipelines: []pipelineStatus{}}
	topics := make(map[string]string)
	for _, p := range cfg.Pipelines {
		topics[p.Name] = p.Topic
	}
	index := make(map[string]int)
	for _, e := range entries {
		i, ok := index[e.Pipeline]
		if !ok {
			i = len(doc.Pipelines)
			index[e.Pipeline] = i
			doc.Pipelines = append(doc.Pipelines, pipelineStatus{Name: e.Pipeline, Topic: topics[e.Pipeline], Files: []fileStatus{}})
		}
		f := fileStatus{Path: e.Path, Device: e.Device, Inode: e.Inode, Offset: e.Offset, Size: -1, State: "gone"}
		if size, unshipped, ok := onDisk(e); ok {
			f.Size, f.Unshipped, f.State = size, unshipped, "stopped"
		}
		doc.Pipelines[i].Files = append(doc.Pipelines[i].Files, f)
	}
	return doc, nil
}

// renderStatus writes the human-readable table.
func renderStatus(w io.Writer, doc statusDoc) error {
	switch doc.Source {
	case "agent":
		ready := "ready"
		if !doc.Ready {
			ready = "NOT READY: " + termSafe(doc.NotReady)
		}
		fmt.Fprintf(w, "logship %s, up %s, %s\n", termSafe(doc.Version), fmtAge(doc.Now, doc.Started), ready)
		ack := "never"
		if !doc.LastAck.IsZero() {
			ack = fmtAge(doc.Now, doc.LastAck) + " ago"
		}
		fmt.Fprintf(w, "last acknowledgement %s, %s in flight\n\n", ack, fmtBytes(doc.InflightBytes))
	default:
		fmt.Fprintf(w, "showing the last checkpoint of a stopped agent (%s)\n\n", termSafe(doc.Checkpoint))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tPATH\tOFFSET\tSIZE\tUNSHIPPED\tLAST ACK\tSTATE")
	files := 0
	for _, p := range doc.Pipelines {
		for _, f := range p.Files {
			files++
			size := fmt.Sprint(f.Size)
			if f.Size < 0 {
				size = "-"
			}
			ack := "-"
			if !f.LastAck.IsZero() {
				ack = fmtAge(doc.Now, f.LastAck) + " ago"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\n", termSafe(p.Name), termSafe(f.Path), f.Offset, size, f.Unshipped, ack, termSafe(f.State))
		}
		if len(p.Files) == 0 {
			fmt.Fprintf(tw, "%s\t(no files)\n", termSafe(p.Name))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range doc.Pipelines {
		for _, d := range p.Unlisted {
			fmt.Fprintf(w, "\n%s: cannot list %s (%s) for %s: its files keep their state, new ones are not found",
				p.Name, d.Path, d.Error, fmtAge(doc.Now, d.Since))
		}
	}
	_, err := fmt.Fprintf(w, "\npipelines: %d, files: %d\n", len(doc.Pipelines), files)
	return err
}

// fmtAge is now - t rounded for people ("3s", "2m5s", "4h0m"); "never" for
// the zero time.
func fmtAge(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := max(now.Sub(t), 0)
	switch {
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}

// fmtBytes formats a byte count with a binary unit.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
