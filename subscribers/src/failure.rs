//! Why a write did not store its documents, and what the sink does about it.
//!
//! Two kinds of failure call for opposite answers. When the store is unreachable or slow, every
//! document would fail the same way: the batch waits and is tried again, for as long as it takes,
//! and no case is ever blamed for it (a store outage must never dead-letter cases). When the
//! store refuses a document, only that document fails, every time: it is isolated, counted, and
//! set aside once it reached the delivery limit, so that it cannot hold its path up forever.

use std::fmt;

use mongodb::error::{
    CommandError, Error, ErrorKind, InsertManyError, RETRYABLE_WRITE_ERROR, WriteFailure,
};

/// MongoDB's duplicate-key error code: the case is stored already (a redelivery).
pub const DUPLICATE_KEY: i32 = 11000;

/// Server error codes that say the server, not the command, is in trouble (shutting down, not
/// primary, timed out, network): MongoDB labels most of them retryable, but FerretDB adds no
/// labels.
const TRANSIENT_CODES: [i32; 14] = [
    6, 7, 50, 64, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

/// What became of the write of a whole batch that did not succeed.
#[derive(Debug, PartialEq)]
pub enum BatchFailure {
    /// The store did not take the write (unreachable, timed out, busy) or failed for a reason
    /// that is not about the documents: write the batch again later.
    Transient(String),
    /// The server refused the command as a whole, naming no document. FerretDB answers so for a
    /// batch that holds one document it cannot store, after storing the ones before it: which
    /// documents are at fault shows only when they are written one at a time.
    Command(String),
    /// The server refused some documents, by index in the batch, with their code and message
    /// (duplicates included); it stored the others.
    Documents(Vec<(usize, i32, String)>),
}

/// What became of the write of one document that did not succeed.
#[derive(Debug, PartialEq)]
pub enum DocumentFailure {
    /// Stored already.
    Duplicate,
    /// The store refused this document: it will most likely refuse it again.
    Refused(String),
    /// Not about the document (see [`BatchFailure::Transient`]).
    Transient(String),
}

/// The write did not complete in time. It may still land; a redelivery then meets a duplicate.
#[derive(Debug, thiserror::Error)]
#[error("MongoDB did not answer the write within {0:?}")]
pub struct TimedOut(pub std::time::Duration);

/// Sorts the failure of an unordered `insert_many`.
pub fn classify_batch(error: &Error) -> BatchFailure {
    match &*error.kind {
        // A write-concern error means the documents may not be durable: all must be redelivered.
        ErrorKind::InsertMany(InsertManyError {
            write_errors: Some(errors),
            write_concern_error: None,
            ..
        }) => BatchFailure::Documents(
            errors
                .iter()
                .map(|e| (e.index, e.code, described(e.code, &e.message)))
                .collect(),
        ),
        ErrorKind::Command(command) if !transient_command(error, command) => {
            BatchFailure::Command(described(command.code, &command.message))
        }
        _ => BatchFailure::Transient(error.to_string()),
    }
}

/// Sorts the failure of an `insert_one`.
pub fn classify_document(error: &Error) -> DocumentFailure {
    match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY => {
            DocumentFailure::Duplicate
        }
        ErrorKind::Write(WriteFailure::WriteError(e)) => {
            DocumentFailure::Refused(described(e.code, &e.message))
        }
        ErrorKind::Command(command) if !transient_command(error, command) => {
            DocumentFailure::Refused(described(command.code, &command.message))
        }
        _ => DocumentFailure::Transient(error.to_string()),
    }
}

fn transient_command(error: &Error, command: &CommandError) -> bool {
    TRANSIENT_CODES.contains(&command.code) || error.contains_label(RETRYABLE_WRITE_ERROR)
}

fn described(code: i32, message: &str) -> String {
    format!("code {code}: {message}")
}

impl fmt::Display for BatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transient(e) | Self::Command(e) => f.write_str(e),
            Self::Documents(errors) => write!(f, "{} documents refused", errors.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{doc, from_document};

    fn command_error(code: i32, message: &str) -> Error {
        let command: CommandError =
            from_document(doc! { "code": code, "codeName": "X", "errmsg": message })
                .expect("a command error");
        ErrorKind::Command(command).into()
    }

    fn insert_many_error(errors: &[(i32, i32)], write_concern: bool) -> Error {
        let write_errors: Vec<_> = errors
            .iter()
            .map(|&(index, code)| doc! { "index": index, "code": code, "errmsg": "refused" })
            .collect();
        let mut error = doc! { "writeErrors": write_errors };
        if write_concern {
            error.insert(
                "writeConcernError",
                doc! { "code": 64, "errmsg": "waiting" },
            );
        }
        let error: InsertManyError = from_document(error).expect("an insert-many error");
        ErrorKind::InsertMany(error).into()
    }

    fn io_error() -> Error {
        ErrorKind::from(std::io::ErrorKind::ConnectionRefused).into()
    }

    #[test]
    fn an_unreachable_store_is_transient() {
        assert!(matches!(
            classify_batch(&io_error()),
            BatchFailure::Transient(_)
        ));
        assert!(matches!(
            classify_document(&io_error()),
            DocumentFailure::Transient(_)
        ));
    }

    #[test]
    fn a_server_in_trouble_is_transient_not_the_documents_fault() {
        let shutting_down = command_error(91, "shutdown in progress");
        assert!(matches!(
            classify_batch(&shutting_down),
            BatchFailure::Transient(_)
        ));
        assert!(matches!(
            classify_document(&shutting_down),
            DocumentFailure::Transient(_)
        ));
    }

    #[test]
    fn a_command_error_names_no_document_so_the_batch_is_split() {
        let message = "unsupported Unicode escape sequence (SQLSTATE 22P05)";
        let refused = command_error(1, message);
        assert_eq!(
            classify_batch(&refused),
            BatchFailure::Command(format!("code 1: {message}"))
        );
        assert_eq!(
            classify_document(&refused),
            DocumentFailure::Refused(format!("code 1: {message}"))
        );
    }

    #[test]
    fn write_errors_name_their_documents() {
        assert_eq!(
            classify_batch(&insert_many_error(&[(0, DUPLICATE_KEY), (3, 2)], false)),
            BatchFailure::Documents(vec![
                (0, DUPLICATE_KEY, "code 11000: refused".into()),
                (3, 2, "code 2: refused".into()),
            ])
        );
    }

    #[test]
    fn a_write_concern_error_redelivers_the_whole_batch() {
        assert!(matches!(
            classify_batch(&insert_many_error(&[(0, DUPLICATE_KEY)], true)),
            BatchFailure::Transient(_)
        ));
    }
}
