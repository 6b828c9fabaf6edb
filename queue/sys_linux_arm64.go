package queue

import "syscall"

const sysSyncfs = syscall.SYS_SYNCFS
