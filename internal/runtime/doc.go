// Package runtime runs a job's or a model server's "image" as a local process.
//
// It has two parts that callers (the jobs package and the model servers) combine:
//
//   - [Catalog] turns an ImageUri plus the SageMaker request fields that shape a
//     container's command (mode, ContainerEntrypoint, ContainerArguments,
//     HyperParameters) into a host [Command].
//   - [Process] starts that command with SageMaker's /opt/ml contract: on Linux,
//     where the kernel allows it, in a private mount namespace in which the job's
//     workspace folder is bind-mounted at /opt/ml, and, when the job asks for
//     network isolation, in an empty network namespace.
//
// # Image names
//
// The catalog recognises, in this order:
//
//  1. User mappings from the server configuration ([Mapping]): an image pattern
//     (exact, or with '*' wildcards that match any characters, '/' included) and
//     the local command that stands for the image's ENTRYPOINT. Mappings come
//     first so that an operator can override anything below.
//  2. Built-in images, named "sluice/<name>" with an optional tag
//     ("sluice/xgboost", "sluice/xgboost:latest"). They are part of the sluice
//     binary, so the tag is informational. They run as the sluice executable
//     re-executed as "sluice algo <name> <mode>", where mode is train, process or
//     serve.
//  3. SageMaker's first-party images,
//     "<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>:<tag>", by
//     repository name (sagemaker-xgboost, sagemaker-scikit-learn,
//     pytorch-training, ...). The XGBoost images run the built-in XGBoost trainer
//     ("train") and server ("serve"). Any image given a ContainerEntrypoint runs
//     that entrypoint on the host; "python3" (or any python* program) in it means
//     the configured host interpreter. Framework images in training mode honour
//     the sagemaker_program and sagemaker_submit_directory hyperparameters
//     (script mode), as SageMaker's framework containers do.
//
// ContainerEntrypoint and ContainerArguments follow docker's semantics: an
// entrypoint replaces the image's entrypoint and its default arguments, and
// arguments replace the default arguments (for training and serving, the word
// "train" or "serve" that SageMaker passes).
//
// # /opt/ml
//
// Inside the job's mount namespace, mounts are made private first, so nothing
// leaks to the host. If /opt/ml exists on the host, the workspace is bind-mounted
// onto it. Otherwise a tmpfs is mounted over /opt inside the namespace, every
// entry of the host's /opt is bind-mounted back into it (so programs installed
// under /opt keep working), and /opt/ml is created in the tmpfs as the mount
// point. The host file system is never changed, except that /opt itself is
// created when a host has none. Non-root servers get the same layout through a
// user namespace that maps the server's user to root inside it.
//
// Go cannot run code between clone and exec, so the namespaces are prepared one
// of two ways. A server running as root makes them on an OS thread of its own,
// locked to one goroutine: it unshares the mount (and network) namespace there,
// performs the mounts and forks the job from that thread, which it keeps until
// the job has been reaped, since a job's death signal follows the thread that
// forked it. A server that needs a user namespace cannot do that (the kernel
// refuses a user namespace to a multi-threaded process), so it re-executes the
// sluice binary as the hidden command "sluice runtime-init", a shim that performs
// the mounts in the namespaces it was started in, then execs the job. The shim
// costs about 4 ms more per job (BenchmarkProcessStart).
//
// A new network namespace has only a loopback interface. It is brought up, as
// docker's "none" network does, so a job may still talk to itself on 127.0.0.1
// while having no route anywhere else.
//
// Where namespaces are unavailable (not Linux, or the kernel refuses), jobs run
// as plain processes: "/opt/ml" in the command, its working directory and its
// environment is rewritten to the workspace path, and SLUICE_OPT_ML names the
// workspace, so scripts that read paths from the environment (SM_MODEL_DIR, ...)
// still work. A job that asks for network isolation is then refused with
// [ErrNetworkIsolationUnavailable] instead of being run without it.
//
// The namespaces are a faithful container contract, not a security sandbox: a job
// runs as the server's user and sees the rest of the host's file system.
package runtime
