package decode

import (
	"path/filepath"
	"strings"
)

// Field keys set from Kubernetes log paths.
const (
	FieldNamespace   = "k8s_namespace"
	FieldPod         = "k8s_pod"
	FieldPodUID      = "k8s_pod_uid"
	FieldContainer   = "k8s_container"
	FieldContainerID = "k8s_container_id"
)

// PathFields extracts Kubernetes metadata from a kubelet log path:
//
//	.../pods/<namespace>_<pod>_<uid>/<container>/<n>.log (and its rotated
//	    names <n>.log.<timestamp>[.gz])
//	.../containers/<pod>_<namespace>_<container>-<container id>.log
//
// It returns nil for any other path. Namespaces and pod names are DNS names
// and cannot contain "_", which makes the split unambiguous.
func PathFields(path string) []Field {
	dir, base := filepath.Split(path)
	dir = filepath.Clean(dir)
	parent := filepath.Base(dir)
	if parent == "containers" {
		name, ok := strings.CutSuffix(base, ".log")
		if !ok {
			return nil
		}
		p := strings.Split(name, "_")
		if len(p) != 3 || p[0] == "" || p[1] == "" {
			return nil
		}
		i := strings.LastIndexByte(p[2], '-')
		if i <= 0 || i == len(p[2])-1 {
			return nil
		}
		return []Field{
			{FieldNamespace, p[1]}, {FieldPod, p[0]},
			{FieldContainer, p[2][:i]}, {FieldContainerID, p[2][i+1:]},
		}
	}
	if !strings.Contains(base, ".log") {
		return nil
	}
	podDir := filepath.Dir(dir)
	if filepath.Base(filepath.Dir(podDir)) != "pods" || parent == "" || parent == "." || parent == "/" {
		return nil
	}
	p := strings.Split(filepath.Base(podDir), "_")
	if len(p) != 3 || p[0] == "" || p[1] == "" || p[2] == "" {
		return nil
	}
	return []Field{
		{FieldNamespace, p[0]}, {FieldPod, p[1]}, {FieldPodUID, p[2]}, {FieldContainer, parent},
	}
}
