package deploy

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
	line int
}

// stage is one FROM and what follows it.
type stage struct {
	base, name string
	insns      []instruction
}

// parseDockerfile reads the instructions the way the builder does: parser
// directives and comments dropped, backslash continuations joined.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			return
		}
		stages[len(stages)-1].insns = append(stages[len(stages)-1].insns, in)
	}
	for i, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// runCommand strips RUN's --mount/--network options.
func runCommand(args string) string {
	for strings.HasPrefix(args, "--") {
		_, rest, _ := strings.Cut(args, " ")
		args = strings.TrimSpace(rest)
	}
	return args
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.insns {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

var buildRun = regexp.MustCompile(`^VERSION=\$\{VERSION\} hack/build-static\.sh (/\S+)$`)

// TestDockerfile checks the image recipe: a Go build stage on the release
// go.mod names, a final stage on scratch that holds only the binary and the
// CA certificates and runs the binary, OCI labels, and no registry host.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("%d stages, want build and run", len(stages))
	}
	build, run := stages[0], stages[1]
	for _, s := range stages {
		if first, _, ok := strings.Cut(s.base, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
			t.Errorf("FROM %s names a registry host", s.base)
		}
	}

	// The Go release: golang:<major.minor>[.patch][-variant] against go.mod.
	goMod := goDirective(t)
	img, ok := strings.CutPrefix(build.base, "golang:")
	if !ok {
		t.Fatalf("build stage FROM %s: want a golang image", build.base)
	}
	imgGo, _, _ := strings.Cut(img, "-")
	if majorMinor(imgGo) != majorMinor(goMod) {
		t.Errorf("build stage uses Go %s, go.mod says go %s", imgGo, goMod)
	}

	// The build stage builds with the script CI runs, and nothing else.
	var out string
	for _, in := range build.all("RUN") {
		cmd := runCommand(in.args)
		if m := buildRun.FindStringSubmatch(cmd); m != nil {
			out = m[1]
			continue
		}
		if cmd != "go mod download" {
			t.Errorf("Dockerfile:%d: RUN %q: the build stage runs go mod download and hack/build-static.sh only", in.line, cmd)
		}
	}
	if out == "" {
		t.Fatal("the build stage does not RUN VERSION=${VERSION} hack/build-static.sh OUTPUT")
	}

	// The final stage: scratch, the binary from the build stage as the
	// entrypoint, the CA bundle, no RUN (there is no shell to run it).
	if run.base != "scratch" {
		t.Errorf("final stage FROM %s, want scratch", run.base)
	}
	if n := len(run.all("RUN")); n != 0 {
		t.Errorf("final stage has %d RUN instructions: scratch has no shell", n)
	}
	copies := map[string]string{}
	for _, in := range run.all("COPY") {
		f := strings.Fields(in.args)
		if len(f) != 3 || f[0] != "--from="+build.name {
			t.Errorf("Dockerfile:%d: COPY %s: the final stage copies only from the build stage", in.line, in.args)
			continue
		}
		copies[f[1]] = f[2]
	}
	if copies["/etc/ssl/certs/ca-certificates.crt"] != "/etc/ssl/certs/ca-certificates.crt" {
		t.Error("final stage lacks the CA certificates at /etc/ssl/certs/ca-certificates.crt")
	}
	bin, ok := copies[out]
	if !ok {
		t.Fatalf("final stage does not copy the built %s", out)
	}
	var entry []string
	if e := run.all("ENTRYPOINT"); len(e) != 1 || json.Unmarshal([]byte(e[0].args), &entry) != nil {
		t.Fatalf("final stage: want one ENTRYPOINT in exec form (no shell): %v", e)
	}
	if !slices.Equal(entry, []string{bin}) {
		t.Errorf("ENTRYPOINT %q, want [%q]: the image runs the binary", entry, bin)
	}
	if u := run.all("USER"); len(u) != 1 || u[0].args != "0:0" {
		t.Errorf("final stage USER %v: want 0:0 (capabilities are given to root only)", u)
	}
	labels := strings.Join(func() []string {
		var out []string
		for _, l := range run.all("LABEL") {
			out = append(out, l.args)
		}
		return out
	}(), " ")
	for _, l := range []string{"title", "description", "source", "version", "revision"} {
		if !strings.Contains(labels, "org.opencontainers.image."+l+"=") {
			t.Errorf("no OCI label org.opencontainers.image.%s", l)
		}
	}
}

func goDirective(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// TestDockerfileBuildsTheBinary runs the build stage's own build command
// (hack/build-static.sh, with the Dockerfile's VERSION) into a temporary
// directory, then checks the result: a static binary that reports its
// version and whose `agent --help` lists every flag the chart passes.
func TestDockerfileBuildsTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary")
	}
	stages := parseDockerfile(t, "../Dockerfile")
	var script string
	for _, in := range stages[0].all("RUN") {
		if m := buildRun.FindStringSubmatch(runCommand(in.args)); m != nil {
			script = "hack/build-static.sh"
		}
	}
	if script == "" {
		t.Fatal("no build command in the Dockerfile")
	}
	bin := filepath.Join(t.TempDir(), "auditor")
	cmd := exec.Command("./"+script, bin)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "VERSION=v0.0.0-citest")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader: scratch has none")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
		t.Errorf("the binary links %v: scratch has none", libs)
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v0.0.0-citest") {
		t.Errorf("auditor version: %v: %s", err, out)
	}
	help, err := exec.Command(bin, "agent", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("auditor agent --help: %v: %s", err, help)
	}
	ds := one[*appsv1.DaemonSet](t, render(t, allOn(), monitoringAPIs...), "DaemonSet", daemonSetName)
	for _, a := range agentContainer(t, ds).Args[1:] {
		name, _, _ := strings.Cut(a, "=")
		if !regexp.MustCompile(`(?m)^\s+(-\w, )?` + regexp.QuoteMeta(name) + `\b`).Match(help) {
			t.Errorf("the chart passes %s, which `auditor agent --help` does not list", name)
		}
	}
	t.Logf("built %s", bin)
}
