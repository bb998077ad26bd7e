package server

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// hubbleCLI returns the path of the real hubble CLI that
// hack/hubble-cli.sh builds, or skips (fails under
// AUDITOR_REQUIRE_PRIVILEGED=1) when it has not been built.
func hubbleCLI(t *testing.T) string {
	t.Helper()
	path := os.Getenv("AUDITOR_HUBBLE_CLI")
	if path == "" {
		out, err := exec.Command("../../hack/hubble-cli.sh", "--print").Output()
		if err != nil {
			t.Fatalf("hack/hubble-cli.sh --print: %v", err)
		}
		path = strings.TrimSpace(string(out))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode()&0o111 == 0 {
		testutil.Unavailable(t, "the hubble CLI is not built at "+path+": run hack/hubble-cli.sh")
	}
	return path
}

// runHubble runs the CLI with a clean configuration and returns stdout.
func runHubble(t *testing.T, cli string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	home := t.TempDir()
	cmd.Env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hubble %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// parseJSONPB reads `hubble observe -o jsonpb` output: one GetFlowsResponse a line.
func parseJSONPB(t *testing.T, out string) []*observer.GetFlowsResponse {
	t.Helper()
	var resps []*observer.GetFlowsResponse
	for line := range strings.Lines(out) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r observer.GetFlowsResponse
		if err := protojson.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("jsonpb line %q: %v", line, err)
		}
		resps = append(resps, &r)
	}
	return resps
}

func flowsOf(resps []*observer.GetFlowsResponse) []*flowpb.Flow {
	var out []*flowpb.Flow
	for _, r := range resps {
		if f := r.GetFlow(); f != nil {
			out = append(out, f)
		}
	}
	return out
}

func TestHubbleCLIObserve(t *testing.T) {
	cli := hubbleCLI(t)
	_, _, addr := newScenarioServer(t, 0)
	observe := func(args ...string) []*flowpb.Flow {
		t.Helper()
		args = append([]string{"observe", "--server", addr, "-o", "jsonpb"}, args...)
		return flowsOf(parseJSONPB(t, runHubble(t, cli, args...)))
	}

	t.Run("last 3", func(t *testing.T) {
		resps := parseJSONPB(t, runHubble(t, cli, "observe", "--server", addr, "--last", "3", "-o", "jsonpb"))
		if got := indexes(flowsOf(resps)); !slices.Equal(got, []int{5, 6, 7}) {
			t.Fatalf("got flows %v, want [5 6 7]", got)
		}
		r := resps[0]
		if r.GetNodeName() != "node-a" || !r.GetTime().AsTime().Equal(t0.Add(5*time.Second)) {
			t.Errorf("response node %q time %v", r.GetNodeName(), r.GetTime().AsTime())
		}
		f := r.GetFlow()
		if f.GetSource().GetPodName() != "triage-agent-7d9f" || f.GetDestination().GetNamespace() != "kube-system" ||
			f.GetL4().GetUDP().GetDestinationPort() != 53 || !slices.Contains(f.GetSource().GetLabels(), "k8s:role=triage-agent") {
			t.Errorf("flow 5 as the CLI printed it: %v", f)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want []int
	}{
		{"namespace", []string{"--namespace", "databases"}, []int{2}},
		{"pod", []string{"--from-pod", "ai-agents/specialist-agent-a"}, []int{2, 3}},
		{"label on either side", []string{"--label", "role=specialist-agent"}, []int{1, 2, 3}},
		{"verdict dropped", []string{"--verdict", "DROPPED"}, []int{3}},
		{"verdict audit", []string{"--verdict", "AUDIT"}, []int{4}},
		{"port", []string{"--to-port", "5432"}, []int{2}},
		{"protocol", []string{"--protocol", "udp"}, []int{5}},
		{"not protocol", []string{"--not", "--protocol", "tcp"}, []int{5, 7}},
		{"fqdn", []string{"--to-fqdn", "*.example.com"}, []int{6}},
		{"first", []string{"--first", "2"}, []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The CLI asks for the last 20 unless told otherwise; all 8 fit.
			if got := indexes(observe(tc.args...)); !slices.Equal(got, tc.want) {
				t.Errorf("hubble observe %s: got flows %v, want %v", strings.Join(tc.args, " "), got, tc.want)
			}
		})
	}
	t.Run("compact output", func(t *testing.T) {
		// Compact output makes the CLI send a field mask.
		out := runHubble(t, cli, "observe", "--server", addr, "--last", "5")
		for _, want := range []string{
			"ai-agents/specialist-agent-a:40003", "ai-agents/specialist-agent-b:8000", "Policy denied DROPPED", "TCP Flags: SYN",
			"169.254.169.254:80", "from-endpoint AUDIT", "flow-auditor: would-deny", "kube-system/coredns-5d78:53", "UDP",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("compact output lacks %q:\n%s", want, out)
			}
		}
		if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 5 {
			t.Errorf("compact output has %d lines, want 5:\n%s", n, out)
		}
	})
}

func TestHubbleCLIFollowStatusAndNodes(t *testing.T) {
	cli := hubbleCLI(t)
	srv, _, addr := newScenarioServer(t, 0)

	status := runHubble(t, cli, "status", "--server", addr)
	for _, want := range []string{"Healthcheck (via " + addr + "): Ok", "8/4,096", "Connected Nodes: 1/1"} {
		if !strings.Contains(status, want) {
			t.Errorf("hubble status lacks %q:\n%s", want, status)
		}
	}
	nodes := runHubble(t, cli, "list", "nodes", "--server", addr)
	if !strings.Contains(nodes, "node-a") || !strings.Contains(nodes, "Connected") {
		t.Errorf("hubble list nodes:\n%s", nodes)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "observe", "--server", addr, "--follow", "--protocol", "udp", "-o", "jsonpb")
	home := t.TempDir()
	cmd.Env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "PATH=" + os.Getenv("PATH")}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hubble observe --follow: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(t, func() bool { return srv.Stats().Followers == 1 })
	base := scenario()
	srv.Add(newFlow(base[1], 8)) // TCP: filtered out
	srv.Add(newFlow(base[5], 9)) // UDP
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read followed flow: %v", err)
	}
	got := flowsOf(parseJSONPB(t, line))
	if len(got) != 1 || scenarioIndex(got[0]) != 9 {
		t.Errorf("hubble observe --follow printed %s, want flow 9", line)
	}
}
