package queue

// sysSyncfs is syncfs(2); the frozen syscall package lacks it on amd64.
const sysSyncfs = 306
