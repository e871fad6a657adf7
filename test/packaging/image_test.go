package packaging

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/logship/logship/internal/config"
)

// imageEntrypoint is the entrypoint of the container image, shared by the
// Dockerfile, scripts/image and the DaemonSet's config mount.
var imageEntrypoint = []string{"/logship", "run", "-config", "/etc/logship/agent.yaml"}

const imageUser = "65532:65532"

// dockerStage is one FROM ... block of a Dockerfile: its base, its name and
// its instructions (continuation lines joined), keyword upper-cased.
type dockerStage struct {
	from, name string
	instrs     [][2]string // {KEYWORD, arguments}
}

func parseDockerfile(t *testing.T, data []byte) []dockerStage {
	t.Helper()
	var stages []dockerStage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		kw, args, _ := strings.Cut(line, " ")
		kw = strings.ToUpper(kw)
		args = strings.TrimSpace(args)
		if kw == "FROM" {
			f := strings.Fields(args)
			st := dockerStage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", kw)
		}
		s := &stages[len(stages)-1]
		s.instrs = append(s.instrs, [2]string{kw, args})
	}
	for _, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

func (s dockerStage) all(kw string) []string {
	var out []string
	for _, in := range s.instrs {
		if in[0] == kw {
			out = append(out, in[1])
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, readRepoFile(t, "Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final stage", len(stages))
	}
	build, final := stages[0], stages[1]

	if !strings.HasSuffix(build.from, "golang:1.26") {
		t.Errorf("build stage FROM %s, want golang:1.26 (go.mod says go 1.26)", build.from)
	}
	runs := strings.Join(build.all("RUN"), "\n")
	makefile := string(readRepoFile(t, "Makefile"))
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "-X main.version=", "-X main.commitHash=", "./cmd/agent"} {
		if !strings.Contains(runs, want) {
			t.Errorf("Dockerfile build stage does not build with %q", want)
		}
		if !strings.Contains(makefile, want) {
			t.Errorf("Makefile does not build with %q, the Dockerfile does: the two binaries differ", want)
		}
	}
	if !strings.Contains(runs, "-m 0700 -o 65532 -g 65532 /rootfs"+config.DefaultDataDir) {
		t.Errorf("Dockerfile does not create the checkpoint directory %s as 0700 owned by %s", config.DefaultDataDir, imageUser)
	}

	if final.from != "scratch" {
		t.Errorf("final stage FROM %s, want scratch (no shell, no libc, nothing to patch)", final.from)
	}
	if r := final.all("RUN"); len(r) > 0 {
		t.Errorf("final stage has RUN %q: a FROM scratch image has no shell to run it", r)
	}
	for _, c := range final.all("COPY") {
		if !strings.Contains(c, "--from="+build.name) {
			t.Errorf("final stage COPY %q takes files from outside the build stage", c)
		}
	}
	if u := final.all("USER"); len(u) != 1 || u[0] != imageUser {
		t.Errorf("final stage USER %q, want exactly one numeric non-root %s (runAsNonRoot needs a number)", u, imageUser)
	}
	ep := final.all("ENTRYPOINT")
	if len(ep) != 1 {
		t.Fatalf("final stage has %d ENTRYPOINTs, want 1", len(ep))
	}
	var argv []string
	if err := json.Unmarshal([]byte(ep[0]), &argv); err != nil {
		t.Fatalf("ENTRYPOINT %s is not the exec (JSON) form; the shell form needs /bin/sh: %v", ep[0], err)
	}
	if !slices.Equal(argv, imageEntrypoint) {
		t.Errorf("ENTRYPOINT %q, want %q", argv, imageEntrypoint)
	}
	if c := final.all("CMD"); len(c) > 0 {
		t.Errorf("final stage CMD %q would be appended to the entrypoint's arguments", c)
	}

	ignore := string(readRepoFile(t, ".dockerignore"))
	for _, want := range []string{".git", "bin", ".cache"} {
		if !slices.Contains(strings.Fields(ignore), want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}

// TestImageScriptMatchesDockerfile checks that scripts/image (make image,
// which needs no registry) configures the image as the Dockerfile does.
func TestImageScriptMatchesDockerfile(t *testing.T) {
	script := string(readRepoFile(t, "scripts/image"))

	m := regexp.MustCompile(`--entrypoint '([^']*)'`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("scripts/image sets no --entrypoint")
	}
	var argv []string
	if err := json.Unmarshal([]byte(m[1]), &argv); err != nil {
		t.Fatalf("scripts/image --entrypoint %s is not a JSON array: %v", m[1], err)
	}
	if !slices.Equal(argv, imageEntrypoint) {
		t.Errorf("scripts/image entrypoint %q, Dockerfile %q", argv, imageEntrypoint)
	}
	if u := regexp.MustCompile(`--user (\S+)`).FindStringSubmatch(script); u == nil || u[1] != imageUser {
		t.Errorf("scripts/image --user %v, want %s", u, imageUser)
	}
	for _, want := range []string{
		"buildah", "from scratch", "statically linked",
		"--owner=65532 --group=65532 --no-recursion \\\n  var/lib/logship",
		"chmod 0700 \"$skel/rootfs" + config.DefaultDataDir + "\"",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("scripts/image lacks %q", want)
		}
	}
	mk := string(readRepoFile(t, "Makefile"))
	if !regexp.MustCompile(`(?m)^image: build\n\t.*scripts/image bin/logship`).MatchString(mk) {
		t.Error("Makefile target image does not build bin/logship and run scripts/image on it")
	}
}
