// SPDX-License-Identifier: MPL-2.0

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	driverpb "nomad-plugin-rs/interop/gen/nomad/drivers"
)

// task is one running (or exited, not yet destroyed) task. pid is the
// supervisor's, which is also the task's process group id.
type task struct {
	cfg       *driverpb.TaskConfig
	pid       int
	startTime uint64
	exitFile  string
	dir       string
	startedAt time.Time

	done        chan struct{}
	once        sync.Once
	result      *driverpb.ExitResult
	completedAt time.Time
}

func newTask(cfg *driverpb.TaskConfig, dir string, pid int, startTime uint64, exitFile string) *task {
	return &task{
		dir:       dir,
		cfg:       cfg,
		pid:       pid,
		startTime: startTime,
		exitFile:  exitFile,
		startedAt: time.Now(),
		done:      make(chan struct{}),
	}
}

func (t *task) finish(res *driverpb.ExitResult) {
	t.once.Do(func() {
		t.result = res
		t.completedAt = time.Now()
		close(t.done)
	})
}

func (t *task) exited() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// signal goes to the supervisor, which passes it on to the task.
func (t *task) signal(sig syscall.Signal) error {
	if t.exited() {
		return errors.New("task has exited")
	}
	return syscall.Kill(t.pid, sig)
}

// kill ends the whole process group.
func (t *task) kill() {
	_ = syscall.Kill(-t.pid, syscall.SIGKILL)
}

type exitStatus struct {
	ExitCode int `json:"exit_code"`
	Signal   int `json:"signal"`
}

func readExitFile(path string) (*driverpb.ExitResult, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	var st exitStatus
	if json.Unmarshal(raw, &st) != nil {
		return nil, false
	}
	return &driverpb.ExitResult{ExitCode: int32(st.ExitCode), Signal: int32(st.Signal)}, true
}

// readExit is the task's result once its supervisor is gone. Without an
// exit file the supervisor itself was killed, which only SIGKILL of the
// group (ours, or the OOM killer's) does.
func readExit(path string) *driverpb.ExitResult {
	if res, ok := readExitFile(path); ok {
		return res
	}
	return &driverpb.ExitResult{ExitCode: 128 + int32(syscall.SIGKILL), Signal: int32(syscall.SIGKILL)}
}

// procStat returns the fields of /proc/PID/stat after the command name
// (index 0 is field 3, the state).
func procStat(pid int) ([]string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return nil, fmt.Errorf("short /proc/%d/stat", pid)
	}
	return f, nil
}

func procStartTime(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// watchPid checks that pid is still the process started at startTime and
// returns a channel closed when it exits (pidfd + poll: no polling loop).
func watchPid(pid int, startTime uint64) (<-chan struct{}, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open: %w", err)
	}
	f, err := procStat(pid)
	if err != nil || f[0] == "Z" || f[19] != strconv.FormatUint(startTime, 10) {
		unix.Close(fd)
		return nil, errors.New("pid was reused or the process has exited")
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if err == nil || !errors.Is(err, unix.EINTR) {
				return
			}
		}
	}()
	return ch, nil
}

func parseSignal(name string) (syscall.Signal, bool) {
	name = strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	return sig, sig != 0
}

// cpuSampler turns cumulative CPU ticks into a percentage between samples.
type cpuSampler struct {
	lastTicks float64
	lastAt    time.Time
}

const clockTicks = 100 // USER_HZ on Linux

// groupIndex is the last pass over /proc by process group, shared by every
// stats stream and at most groupIndexMaxAge old: scanning /proc for each
// sample would cost (tasks x processes) reads per interval. rsexec (the
// SDK's GroupStats) does the same.
var groupIndex struct {
	sync.Mutex
	at     time.Time
	groups map[int][]int
}

const groupIndexMaxAge = time.Second

func groupMembers(pgid int) []int {
	groupIndex.Lock()
	if groupIndex.groups == nil || time.Since(groupIndex.at) >= groupIndexMaxAge {
		groups := map[int][]int{}
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			f, err := procStat(pid)
			if err != nil {
				continue
			}
			if g, err := strconv.Atoi(f[2]); err == nil {
				groups[g] = append(groups[g], pid)
			}
		}
		groupIndex.groups, groupIndex.at = groups, time.Now()
	}
	members := append([]int(nil), groupIndex.groups[pgid]...)
	groupIndex.Unlock()
	for _, m := range members {
		if m == pgid {
			return members
		}
	}
	return append(members, pgid)
}

func (c *cpuSampler) sample(pgid int) *driverpb.TaskResourceUsage {
	var user, system, rss float64
	page := float64(os.Getpagesize())
	for _, pid := range groupMembers(pgid) {
		// Checked again: the pid may have been reused since the scan.
		f, err := procStat(pid)
		if err != nil || f[2] != strconv.Itoa(pgid) {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		r, _ := strconv.ParseFloat(f[21], 64)
		user += u
		system += s
		rss += r * page
	}
	now := time.Now()
	ticks := user + system
	percent := 0.0
	if !c.lastAt.IsZero() {
		if wall := now.Sub(c.lastAt).Seconds(); wall > 0 {
			percent = (ticks - c.lastTicks) / clockTicks / wall * 100
		}
	}
	c.lastTicks, c.lastAt = ticks, now
	return &driverpb.TaskResourceUsage{
		Cpu: &driverpb.CPUUsage{
			UserMode:   user / clockTicks * 1000, // milliseconds of CPU time
			SystemMode: system / clockTicks * 1000,
			Percent:    percent,
			MeasuredFields: []driverpb.CPUUsage_Fields{
				driverpb.CPUUsage_USER_MODE, driverpb.CPUUsage_SYSTEM_MODE, driverpb.CPUUsage_PERCENT,
			},
		},
		Memory: &driverpb.MemoryUsage{
			Rss:            uint64(rss),
			MeasuredFields: []driverpb.MemoryUsage_Fields{driverpb.MemoryUsage_RSS},
		},
	}
}

// runShim is the supervisor: `shim EXITFILE CMD ARGS...`. It runs CMD in
// its own (inherited) process group, passes every signal it receives on to
// it, and records how it ended in EXITFILE.
func runShim(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-exec-driver shim EXITFILE CMD [ARGS...]")
		return 2
	}
	exitFile := args[0]
	// Catch (not ignore: ignored dispositions would be inherited) every
	// signal before the task exists, so none kills the supervisor.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "go-exec-driver: starting %s: %v\n", args[1], err)
		writeExit(exitFile, exitStatus{ExitCode: 127})
		return 127
	}
	go func() {
		for s := range sigs {
			sig, ok := s.(syscall.Signal)
			// SIGURG is the Go runtime's own preemption signal.
			if !ok || sig == syscall.SIGCHLD || sig == syscall.SIGURG {
				continue
			}
			_ = cmd.Process.Signal(sig)
		}
	}()
	_ = cmd.Wait()
	st := exitStatus{ExitCode: cmd.ProcessState.ExitCode()}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		st = exitStatus{ExitCode: 128 + int(ws.Signal()), Signal: int(ws.Signal())}
	}
	writeExit(exitFile, st)
	return 0
}

func writeExit(path string, st exitStatus) {
	raw, _ := json.Marshal(st)
	tmp := path + ".tmp"
	if os.WriteFile(tmp, raw, 0o644) == nil {
		_ = os.Rename(tmp, path)
	}
}
