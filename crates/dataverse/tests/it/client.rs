//! The client alone: headers, paging, details, organization settings, refusals.
