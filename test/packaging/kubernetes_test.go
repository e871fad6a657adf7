package packaging

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logship/logship/internal/config"
	"go.yaml.in/yaml/v3"
)

const kubeDir = "deploy/kubernetes"

// The structs below mirror the Kubernetes API fields the manifests use, and
// nothing more. The DaemonSet is decoded with KnownFields(true), so a
// misspelt field (readOnlyRootFileSystem, allowPrivilegedEscalation) fails
// here instead of being dropped by an API server without strict validation.
// A field added to the manifest must be added here too, on purpose.

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type daemonSet struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		UpdateStrategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable any `yaml:"maxUnavailable"`
				MaxSurge       any `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"updateStrategy"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName            string `yaml:"serviceAccountName"`
	AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
	TerminationGracePeriodSeconds *int64 `yaml:"terminationGracePeriodSeconds"`
	PriorityClassName             string `yaml:"priorityClassName"`
	EnableServiceLinks            *bool  `yaml:"enableServiceLinks"`
	HostNetwork                   bool   `yaml:"hostNetwork"`
	HostPID                       bool   `yaml:"hostPID"`
	Tolerations                   []struct {
		Key      string `yaml:"key"`
		Operator string `yaml:"operator"`
		Effect   string `yaml:"effect"`
	} `yaml:"tolerations"`
	SecurityContext struct {
		SeccompProfile *seccompProfile `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []volume    `yaml:"volumes"`
}

type seccompProfile struct {
	Type string `yaml:"type"`
}

type container struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	ImagePullPolicy string   `yaml:"imagePullPolicy"`
	Command         []string `yaml:"command"`
	Args            []string `yaml:"args"`
	Env             []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		HostPort      int    `yaml:"hostPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		RunAsUser                *int64          `yaml:"runAsUser"`
		RunAsGroup               *int64          `yaml:"runAsGroup"`
		RunAsNonRoot             *bool           `yaml:"runAsNonRoot"`
		Privileged               *bool           `yaml:"privileged"`
		AllowPrivilegeEscalation *bool           `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool           `yaml:"readOnlyRootFilesystem"`
		SeccompProfile           *seccompProfile `yaml:"seccompProfile"`
		Capabilities             struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // a name or a number
	} `yaml:"httpGet"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds"`
	PeriodSeconds       int `yaml:"periodSeconds"`
	TimeoutSeconds      int `yaml:"timeoutSeconds"`
	FailureThreshold    int `yaml:"failureThreshold"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name        string `yaml:"name"`
		DefaultMode int    `yaml:"defaultMode"`
	} `yaml:"configMap"`
	HostPath *struct {
		Path string `yaml:"path"`
		Type string `yaml:"type"`
	} `yaml:"hostPath"`
}

// manifest is one YAML document from deploy/kubernetes.
type manifest struct {
	file string
	node *yaml.Node
	head struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
	}
}

// loadManifests parses every document of every *.yaml file in kubeDir.
func loadManifests(t *testing.T) (map[string]*manifest, []*manifest) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), kubeDir)
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", kubeDir, err)
	}
	byKind := map[string]*manifest{}
	var all []*manifest
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			m := &manifest{file: filepath.Base(f), node: new(yaml.Node)}
			if err := dec.Decode(m.node); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", m.file, err)
			}
			if err := m.node.Decode(&m.head); err != nil {
				t.Fatalf("%s: %v", m.file, err)
			}
			if m.head.APIVersion == "" || m.head.Kind == "" {
				t.Fatalf("%s: a document without apiVersion and kind", m.file)
			}
			if _, dup := byKind[m.head.Kind]; dup {
				t.Fatalf("%s: a second %s; the test expects one of each kind", m.file, m.head.Kind)
			}
			byKind[m.head.Kind] = m
			all = append(all, m)
		}
	}
	return byKind, all
}

func need(t *testing.T, byKind map[string]*manifest, kind string) *manifest {
	t.Helper()
	m, ok := byKind[kind]
	if !ok {
		t.Fatalf("%s has no %s", kubeDir, kind)
	}
	return m
}

// quantity parses the Kubernetes quantities the manifests use ("128Mi",
// "1", "100m" for CPU is not needed here) into bytes.
func quantity(t *testing.T, s string) int64 {
	t.Helper()
	mult := int64(1)
	for suf, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "k": 1e3, "M": 1e6, "G": 1e9} {
		if strings.HasSuffix(s, suf) {
			mult, s = m, strings.TrimSuffix(s, suf)
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("quantity %q: %v", s, err)
	}
	return v * mult
}

var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

func TestKubernetesManifests(t *testing.T) {
	byKind, all := loadManifests(t)

	// --- namespace, kustomization, service account ----------------------
	ns := need(t, byKind, "Namespace").head.Metadata.Name
	var kust struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Namespace  string   `yaml:"namespace"`
		Resources  []string `yaml:"resources"`
		Images     []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
		} `yaml:"images"`
	}
	decodeStrict(t, need(t, byKind, "Kustomization"), &kust)
	if kust.Namespace != ns {
		t.Errorf("kustomization namespace %q, Namespace %q", kust.Namespace, ns)
	}
	var listed []string
	for _, m := range all {
		if m.head.Kind == "Kustomization" {
			continue
		}
		listed = append(listed, m.file)
		if m.head.Kind != "Namespace" && m.head.Metadata.Namespace != ns {
			t.Errorf("%s: %s/%s is in namespace %q, want %q", m.file, m.head.Kind, m.head.Metadata.Name, m.head.Metadata.Namespace, ns)
		}
	}
	slices.Sort(listed)
	got := slices.Clone(kust.Resources)
	slices.Sort(got)
	if !slices.Equal(got, listed) {
		t.Errorf("kustomization resources %q, files %q: every manifest must be listed, and only those", got, listed)
	}

	var sa struct {
		APIVersion                   string     `yaml:"apiVersion"`
		Kind                         string     `yaml:"kind"`
		Metadata                     objectMeta `yaml:"metadata"`
		AutomountServiceAccountToken *bool      `yaml:"automountServiceAccountToken"`
	}
	decodeStrict(t, need(t, byKind, "ServiceAccount"), &sa)
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("ServiceAccount: automountServiceAccountToken must be false (the agent never calls the API)")
	}

	// --- the DaemonSet, strictly decoded --------------------------------
	var ds daemonSet
	decodeStrict(t, need(t, byKind, "DaemonSet"), &ds)
	pod := ds.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("DaemonSet has %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	if pod.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("pod serviceAccountName %q, ServiceAccount %q", pod.ServiceAccountName, sa.Metadata.Name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("pod: automountServiceAccountToken must be false")
	}
	if pod.HostNetwork || pod.HostPID {
		t.Error("pod: hostNetwork/hostPID must stay off")
	}
	if len(kust.Images) != 1 || kust.Images[0].Name != c.Image {
		t.Errorf("container image %q is not the one kustomization.yaml rewrites (%+v)", c.Image, kust.Images)
	}
	if len(c.Command) > 0 || len(c.Args) > 0 {
		t.Errorf("container overrides the image entrypoint (command %q, args %q)", c.Command, c.Args)
	}
	if ms := ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge; ms != 0 {
		t.Errorf("rollingUpdate.maxSurge %v: two agents on one node would share the checkpoint directory; want 0", ms)
	}
	if !selects(ds.Spec.Selector.MatchLabels, ds.Spec.Template.Metadata.Labels) {
		t.Errorf("selector %v does not match the template labels %v", ds.Spec.Selector.MatchLabels, ds.Spec.Template.Metadata.Labels)
	}
	allNodes := false
	for _, tol := range pod.Tolerations {
		if tol.Operator == "Exists" && tol.Key == "" && tol.Effect == "" {
			allNodes = true
		}
	}
	if !allNodes {
		t.Error("tolerations: want {operator: Exists} so the agent runs on every node, tainted or not")
	}

	// Security context.
	sc := c.SecurityContext
	isTrue := func(b *bool) bool { return b != nil && *b }
	isFalse := func(b *bool) bool { return b != nil && !*b }
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("container: readOnlyRootFilesystem must be true")
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		t.Error("container: allowPrivilegeEscalation must be false")
	}
	if isTrue(sc.Privileged) {
		t.Error("container: privileged must not be set")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container capabilities drop %q add %q: want drop [ALL], add none", sc.Capabilities.Drop, sc.Capabilities.Add)
	}
	for name, p := range map[string]*seccompProfile{"pod": pod.SecurityContext.SeccompProfile, "container": sc.SeccompProfile} {
		if p == nil || p.Type != "RuntimeDefault" {
			t.Errorf("%s seccompProfile %+v, want RuntimeDefault", name, p)
		}
	}
	if sc.RunAsUser == nil {
		t.Error("container: runAsUser must be explicit (the image's 65532 cannot read root-owned 0640 pod logs; the choice is documented)")
	} else if *sc.RunAsUser == 0 && isTrue(sc.RunAsNonRoot) {
		t.Error("container: runAsUser 0 with runAsNonRoot true cannot start")
	}

	// Volumes: read-only logs, a writable checkpoint hostPath, nothing else
	// from the host.
	vols := map[string]volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{} // host path -> mount path
	readOnly := map[string]bool{} // mount path -> read-only
	var configMount string
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			t.Fatalf("volumeMount %q has no volume", vm.Name)
		}
		readOnly[vm.MountPath] = vm.ReadOnly
		switch {
		case v.HostPath != nil:
			mounts[v.HostPath.Path] = vm.MountPath
		case v.ConfigMap != nil:
			configMount = vm.MountPath
			if v.ConfigMap.Name != need(t, byKind, "ConfigMap").head.Metadata.Name {
				t.Errorf("config volume uses ConfigMap %q", v.ConfigMap.Name)
			}
		}
	}
	for _, logs := range []string{"/var/log/pods", "/var/log/containers"} {
		mp, ok := mounts[logs]
		if !ok {
			t.Errorf("hostPath %s is not mounted", logs)
			continue
		}
		if mp != logs || !readOnly[mp] {
			t.Errorf("hostPath %s mounted at %s read-only=%v; want the same path, read-only", logs, mp, readOnly[mp])
		}
		if v := volumeFor(pod.Volumes, logs); v.HostPath.Type != "Directory" {
			t.Errorf("hostPath %s type %q, want Directory (never create log directories on the node)", logs, v.HostPath.Type)
		}
	}
	ckpt, ok := mounts["/var/lib/logship"]
	if !ok {
		t.Fatal("no hostPath for checkpoints at /var/lib/logship: a replaced pod would re-ship every file")
	}
	if v := volumeFor(pod.Volumes, "/var/lib/logship"); v.HostPath.Type != "DirectoryOrCreate" {
		t.Errorf("checkpoint hostPath type %q, want DirectoryOrCreate", v.HostPath.Type)
	}
	if readOnly[ckpt] {
		t.Error("checkpoint mount is read-only: the agent cannot save offsets")
	}
	for host, mp := range mounts {
		if !readOnly[mp] && mp != ckpt {
			t.Errorf("hostPath %s is writable; only the checkpoint directory may be", host)
		}
		if !slices.Contains([]string{"/var/log/pods", "/var/log/containers", "/var/lib/logship"}, host) {
			t.Errorf("unexpected hostPath %s", host)
		}
	}
	if want := path.Dir(imageEntrypoint[len(imageEntrypoint)-1]); configMount != want || !readOnly[configMount] {
		t.Errorf("ConfigMap mounted at %q (read-only %v); the image reads %s", configMount, readOnly[configMount], imageEntrypoint[len(imageEntrypoint)-1])
	}

	// Env: what the agent's config expands.
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom.FieldRef.FieldPath
	}
	for name, field := range map[string]string{"NODE_NAME": "spec.nodeName", "POD_IP": "status.podIP"} {
		if env[name] != field {
			t.Errorf("env %s from %q, want the downward API field %s", name, env[name], field)
		}
	}

	// --- the agent configuration inside the ConfigMap -------------------
	var cm struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   objectMeta        `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
	}
	decodeStrict(t, need(t, byKind, "ConfigMap"), &cm)
	agentYAML, ok := cm.Data[path.Base(imageEntrypoint[len(imageEntrypoint)-1])]
	if !ok {
		t.Fatalf("ConfigMap has no key agent.yaml (keys: %v)", mapsKeys(cm.Data))
	}
	for _, m := range envRefRE.FindAllStringSubmatch(agentYAML, -1) {
		if _, ok := env[m[1]]; !ok && m[2] == "" {
			t.Errorf("the ConfigMap's agent.yaml needs ${%s}, which the DaemonSet does not set: the agent would refuse to start", m[1])
		}
	}
	t.Setenv("NODE_NAME", "node-a")
	t.Setenv("POD_IP", "10.244.1.7")
	cfg, err := config.Parse(kubeDir+"/configmap.yaml#agent.yaml", []byte(agentYAML))
	if err != nil {
		t.Fatalf("the ConfigMap's agent.yaml does not load:\n%v", err)
	}
	if cfg.Agent.Host != "node-a" {
		t.Errorf("agent.host %q, want the node name from NODE_NAME", cfg.Agent.Host)
	}
	if cfg.Agent.DataDir != ckpt {
		t.Errorf("agent.data_dir %s is not the checkpoint hostPath mount %s", cfg.Agent.DataDir, ckpt)
	}

	// Probes reach the agent on the pod IP.
	host, portStr, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		t.Fatalf("http.listen %q: %v", cfg.HTTP.Listen, err)
	}
	if host != "10.244.1.7" {
		t.Errorf("http.listen host %q: the kubelet probes the pod IP, so listen on ${POD_IP}", host)
	}
	port, _ := strconv.Atoi(portStr)
	portByName := map[string]int{}
	for _, p := range c.Ports {
		portByName[p.Name] = p.ContainerPort
		if p.HostPort != 0 {
			t.Errorf("port %s has hostPort %d: the endpoint stays on the pod network", p.Name, p.HostPort)
		}
	}
	for name, pr := range map[string]struct {
		p    *probe
		path string
	}{"livenessProbe": {c.LivenessProbe, "/healthz"}, "readinessProbe": {c.ReadinessProbe, "/readyz"}} {
		if pr.p == nil {
			t.Errorf("%s is missing", name)
			continue
		}
		if pr.p.HTTPGet.Path != pr.path {
			t.Errorf("%s path %q, want %s", name, pr.p.HTTPGet.Path, pr.path)
		}
		probePort := 0
		switch v := pr.p.HTTPGet.Port.(type) {
		case int:
			probePort = v
		case string:
			probePort = portByName[v]
		}
		if probePort != port {
			t.Errorf("%s port %v resolves to %d, the agent listens on %d", name, pr.p.HTTPGet.Port, probePort, port)
		}
	}
	if lp := c.LivenessProbe; lp != nil {
		if window := time.Duration(lp.PeriodSeconds*lp.FailureThreshold) * time.Second; window < 30*time.Second {
			t.Errorf("livenessProbe restarts the agent after %v without answers; a GC pause or a loaded node should not", window)
		}
	}
	var np struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
		Spec       struct {
			PodSelector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"podSelector"`
			PolicyTypes []string `yaml:"policyTypes"`
			Ingress     []struct {
				From  []map[string]any `yaml:"from"`
				Ports []struct {
					Protocol string `yaml:"protocol"`
					Port     int    `yaml:"port"`
				} `yaml:"ports"`
			} `yaml:"ingress"`
		} `yaml:"spec"`
	}
	decodeStrict(t, need(t, byKind, "NetworkPolicy"), &np)
	if !selects(np.Spec.PodSelector.MatchLabels, ds.Spec.Template.Metadata.Labels) {
		t.Errorf("NetworkPolicy selects %v, the pods are labelled %v", np.Spec.PodSelector.MatchLabels, ds.Spec.Template.Metadata.Labels)
	}
	for _, in := range np.Spec.Ingress {
		if len(in.Ports) != 1 || in.Ports[0].Port != port {
			t.Errorf("NetworkPolicy ingress ports %+v, the endpoint is %d", in.Ports, port)
		}
	}

	// Shutdown: the drain must finish before the kubelet's SIGKILL.
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if grace < cfg.Agent.ShutdownTimeout+10*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v leaves no 10s after shutdown_timeout %v for the final checkpoint", grace, cfg.Agent.ShutdownTimeout)
	}

	// Memory: the container limit must hold the agent's peak (memory_limit
	// + memlimit.Headroom, measured through an outage and its catch-up) with
	// a margin, and not dwarf it.
	limit := quantity(t, c.Resources.Limits["memory"])
	request := quantity(t, c.Resources.Requests["memory"])
	peak := peakMemory(int64(cfg.Agent.MemoryLimit))
	if limit < peak+16<<20 {
		t.Errorf("memory limit %d bytes: below the agent's peak %d (memory_limit %v) plus 16MiB of margin: the agent could be OOM-killed in a catch-up", limit, peak, cfg.Agent.MemoryLimit)
	}
	if limit > 2*peak {
		t.Errorf("memory limit %d bytes is more than twice the agent's peak %d: raise memory_limit or lower the limit", limit, peak)
	}
	if request != limit {
		t.Errorf("memory request %d != limit %d: the scheduler would not reserve what the agent may use", request, limit)
	}
	if c.Resources.Limits["cpu"] == "" || c.Resources.Requests["cpu"] == "" {
		t.Error("cpu request and limit must be set")
	}

	// The pipeline: CRI logs of every pod, keyed by source.
	if len(cfg.Pipelines) != 1 {
		t.Fatalf("%d pipelines, want the one CRI pipeline", len(cfg.Pipelines))
	}
	p := cfg.Pipelines[0]
	if !slices.Equal(p.Paths, []string{"/var/log/pods/*/*/*.log"}) || p.Format != "cri" || p.Key != "source" || p.Serializer != "json" || p.Topic != "logs.k8s" {
		t.Errorf("pipeline %s: paths %q format %s key %s serializer %s topic %s; want /var/log/pods/*/*/*.log, cri, source, json, logs.k8s",
			p.Name, p.Paths, p.Format, p.Key, p.Serializer, p.Topic)
	}
	for _, glob := range p.Paths {
		mounted := false
		for host, mp := range mounts {
			if strings.HasPrefix(glob, host+"/") && mp == host && readOnly[mp] {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("pipeline path %s is not under a read-only hostPath mount", glob)
		}
	}
	// /var/log/containers is mounted for pipelines that glob it: its
	// entries are symlinks into /var/log/pods, which the agent follows only
	// with symlink_roots: ["/var/log/pods"]. The manifests say so, that
	// variant of the ConfigMap loads, and what it may read is mounted.
	for _, f := range []string{"daemonset.yaml", "configmap.yaml"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), kubeDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(strings.Fields(string(b)), " "), `symlink_roots: ["/var/log/pods"]`) {
			t.Errorf("%s mentions /var/log/containers without the symlink_roots it needs", f)
		}
	}
	podsGlob := regexp.MustCompile(`\n( *)paths: \["/var/log/pods/\*/\*/\*\.log"\]`)
	variant := podsGlob.ReplaceAllString(agentYAML, "\n${1}paths: [\"/var/log/containers/*.log\"]\n${1}symlink_roots: [\"/var/log/pods\"]")
	vcfg, err := config.Parse(kubeDir+"/configmap.yaml#agent.yaml (containers variant)", []byte(variant))
	if err != nil || !podsGlob.MatchString(agentYAML) {
		t.Fatalf("the /var/log/containers variant of the ConfigMap does not load: %v", err)
	}
	for _, root := range append(slices.Clone(vcfg.Pipelines[0].Paths), vcfg.Pipelines[0].SymlinkRoots...) {
		mounted := false
		for host, mp := range mounts {
			if (root == host || strings.HasPrefix(root, host+"/")) && mp == host && readOnly[mp] {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("containers variant: %s is not under a read-only hostPath mount", root)
		}
	}
	t.Logf("DaemonSet: grace %v > shutdown_timeout %v; memory limit %s >= peak %d MiB + 16MiB (memory_limit %v); probes on %s",
		grace, cfg.Agent.ShutdownTimeout, c.Resources.Limits["memory"], peak>>20, cfg.Agent.MemoryLimit, cfg.HTTP.Listen)
}

// decodeStrict decodes m into v, rejecting fields v does not declare.
func decodeStrict(t *testing.T, m *manifest, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(m.node); err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %s: %v", m.file, m.head.Kind, err)
	}
}

func volumeFor(vols []volume, hostPath string) volume {
	for _, v := range vols {
		if v.HostPath != nil && v.HostPath.Path == hostPath {
			return v
		}
	}
	return volume{}
}

// selects reports whether the non-empty selector a matches the labels b.
func selects(a, b map[string]string) bool {
	if len(a) == 0 {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func mapsKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
