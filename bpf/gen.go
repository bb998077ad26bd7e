package bpf

// The objects are committed: building the module needs no C compiler.
// `make generate` rebuilds them with Debian's clang-19 and llvm-strip-19;
// hack/check-generated.sh checks in CI that they match their sources.
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -type flow_key -type flow_stats -type dns_event -type counter auditor auditor.c
