//! Exit codes (SPEC §3) and the error type the commands return.

use crdguard_core::InputError;
use crdguard_sources::SourceError;

/// 0 ok; 1 blocked/conflict or apply stopped safely; 2 bad usage or input; 3 cluster failure;
/// 4 crdguard's own failure (a bug to report, never the user's input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Blocked = 1,
    BadInput = 2,
    /// Cluster unreachable or API failure (live mode).
    Cluster = 3,
    /// A failure that is not the user's: a bug in crdguard (a report it cannot serialize, a
    /// built-in catalog it cannot read, a panic).
    Internal = 4,
}

/// An error that ends the command, with the exit code it maps to. The adapters' errors are
/// boxed: they are large (a file, a document and a field), and every `Result` of every action
/// carries this type.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Input(Box<InputError>),
    #[error("{0}")]
    Source(Box<SourceError>),
    #[error("{message}")]
    Usage { message: String },
    #[error(
        "internal error: {message} (a bug in crdguard, not in the input; please report it with \
         the command that caused it)"
    )]
    Internal { message: String },
    #[error("{0}")]
    Cluster(Box<crdguard_kube::ClusterError>),
    #[error("{0}")]
    Helm(#[from] crdguard_helm::HelmError),
    #[error("{0}")]
    Fetch(Box<crdguard_fetch::FetchError>),
}

/// `?` on an adapter's error boxes it into its variant.
macro_rules! boxed_from {
    ($($variant:ident($error:ty)),* $(,)?) => {$(
        impl From<$error> for CommandError {
            fn from(error: $error) -> Self {
                CommandError::$variant(Box::new(error))
            }
        }
    )*};
}

boxed_from!(
    Input(InputError),
    Source(SourceError),
    Cluster(crdguard_kube::ClusterError),
    Fetch(crdguard_fetch::FetchError),
);

impl CommandError {
    pub fn usage(message: impl Into<String>) -> Self {
        CommandError::Usage {
            message: message.into(),
        }
    }

    /// A failure that is not the user's (exit 4).
    pub fn internal(message: impl Into<String>) -> Self {
        CommandError::Internal {
            message: message.into(),
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Internal { .. } => Exit::Internal,
            CommandError::Input(_) | CommandError::Source(_) | CommandError::Usage { .. } => {
                Exit::BadInput
            }
            // A stop on request between two writes is a safe stop, not a failure.
            CommandError::Cluster(e)
                if matches!(**e, crdguard_kube::ClusterError::Interrupted { .. }) =>
            {
                Exit::Blocked
            }
            // The object changed between crdguard's read and its write: nothing was written.
            CommandError::Cluster(e)
                if matches!(**e, crdguard_kube::ClusterError::Stale { .. }) =>
            {
                Exit::Blocked
            }
            CommandError::Cluster(_) => Exit::Cluster,
            // helm not found, or helm refusing the chart or values: bad input.
            CommandError::Helm(_) => Exit::BadInput,
            CommandError::Fetch(e) => match e.exit_class() {
                crdguard_fetch::ExitClass::BadInput => Exit::BadInput,
                crdguard_fetch::ExitClass::Unavailable => Exit::Cluster,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crdguards_own_failures_exit_4_and_say_they_are_not_the_inputs() {
        let err = CommandError::internal("cannot serialize the report: key must be a string");
        assert_eq!(err.exit() as u8, 4);
        let message = err.to_string();
        assert!(
            message.starts_with("internal error: cannot serialize"),
            "{message}"
        );
        assert!(message.contains("not in the input"), "{message}");
        assert_eq!(CommandError::usage("--for: x").exit() as u8, 2);
    }
}
