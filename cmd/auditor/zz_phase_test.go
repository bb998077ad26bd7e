package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestZZPhases(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "cluster.yaml")
	flows := filepath.Join(dir, "flows.jsonl")
	writeBenchSnapshot(t, snap)
	writeBenchFlows(t, flows, 1000000)
	out, _ := os.Create(filepath.Join(dir, "out.jsonl"))
	c0 := cpuTime()
	t0 := time.Now()
	ac, err := loadAuditContext(context.Background(), []string{snap}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now(); c1 := cpuTime()
	inputs, closeIn, _ := openFlows([]string{flows}, nil)
	defer closeIn()
	var sp spool
	stats, err := auditFlows(context.Background(), ac, inputs, "", formatJSONL, &sp)
	if err != nil {
		t.Fatal(err)
	}
	t2 := time.Now(); c2 := cpuTime()
	if err := writeAuditOutput(out, formatJSONL, &sp, stats, 10); err != nil {
		t.Fatal(err)
	}
	t3 := time.Now(); c3 := cpuTime()
	t.Logf("load %v (cpu %v), audit %v (cpu %v), copy %v (cpu %v)", t1.Sub(t0), c1-c0, t2.Sub(t1), c2-c1, t3.Sub(t2), c3-c2)
}
