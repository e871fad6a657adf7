package kafkatest

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Attach returns a handle on a cluster that another process started with
// Options.Detached (the CLI), from the state file in dir. The handle controls
// the nodes by pid (checked against each process's command line, so a
// recycled pid is never signalled); restarted nodes are detached too and the
// state file is updated. Close kills the nodes and removes dir. logger may be
// nil.
func Attach(dir string, logger *slog.Logger) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: attach: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		return nil, fmt.Errorf("kafkatest: attach: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("kafkatest: attach: %s: %w", stateFileName, err)
	}
	if s.KafkaVersion != KafkaVersion || len(s.Nodes) == 0 {
		return nil, fmt.Errorf("kafkatest: attach: %s: kafka %q with %d nodes, want kafka %s",
			stateFileName, s.KafkaVersion, len(s.Nodes), KafkaVersion)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		dir:       dir,
		libs:      s.Libs,
		clusterID: s.ClusterID,
		heapMB:    s.HeapMB,
		detached:  true,
		ready:     90 * time.Second,
		log:       logger.With("component", "kafkatest", "dir", dir),
	}
	for i, sn := range s.Nodes {
		if sn.Index != i {
			return nil, fmt.Errorf("kafkatest: attach: %s: node %d listed at position %d", stateFileName, sn.Index, i)
		}
		c.nodes = append(c.nodes, &node{
			index: sn.Index, brokerPort: sn.BrokerPort, controllerPort: sn.ControllerPort, dir: sn.Dir, pid: sn.PID,
		})
	}
	return c, nil
}
