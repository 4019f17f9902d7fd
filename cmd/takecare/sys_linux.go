package main

import "syscall"

// childAttr makes demo nodes receive SIGTERM if the demo itself dies.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} }
