//! The audited tables of the emulated Dataverse environment: their audited columns with column
//! numbers (for `attributemask`), value kinds, choice labels and display names, and the labels of
//! the `action` and `operation` choices (reference §5.2).

/// What a column holds, and how the generator makes values for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// The table's primary name column (named like the world's pool rows).
    Primary,
    FirstName,
    LastName,
    JobTitle,
    Email,
    Phone,
    City,
    /// `ACC-12345`-like codes.
    Code,
    /// A company name (like the world's account names).
    Company,
    Memo,
    /// Choice (option set) with its labels.
    Choice(&'static [(i32, &'static str)]),
    /// Money between the bounds (whole currency units).
    Money(i64, i64),
    Int(i64, i64),
    Bool,
    /// Date only (`Edm.Date`).
    Date,
    /// Lookup to a pool row of the named table of the activity world.
    Lookup(&'static str),
    /// `ownerid`: a person of the world (systemuser).
    Owner,
}

/// One audited column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub(crate) name: &'static str,
    /// `AttributeMetadata.ColumnNumber`.
    pub(crate) number: u32,
    pub(crate) kind: ColumnKind,
}

/// One audited table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    pub(crate) name: &'static str,
    /// Display name (the `objecttypecode` formatted value).
    pub(crate) display: &'static str,
    /// Share of the people's changes.
    pub(crate) weight: u32,
    pub(crate) columns: &'static [Column],
}

const fn c(name: &'static str, number: u32, kind: ColumnKind) -> Column {
    Column { name, number, kind }
}

use ColumnKind::*;

const INDUSTRY: &[(i32, &str)] = &[
    (1, "Accounting"),
    (2, "Agriculture and Non-petrol Natural Resource Extraction"),
    (3, "Broadcasting Printing and Publishing"),
    (4, "Brokers"),
    (6, "Business Services"),
    (7, "Consulting"),
    (8, "Consumer Services"),
    (12, "Financial"),
    (19, "Retail"),
    (33, "Wholesale"),
];
const PRIORITY: &[(i32, &str)] = &[(1, "High"), (2, "Normal"), (3, "Low")];
const CASE_TYPE: &[(i32, &str)] = &[(1, "Question"), (2, "Problem"), (3, "Request")];
const CASE_ORIGIN: &[(i32, &str)] =
    &[(1, "Phone"), (2, "Email"), (3, "Web"), (2483, "Facebook"), (3986, "Twitter")];
const SALES_STAGE: &[(i32, &str)] = &[(0, "Qualify"), (1, "Develop"), (2, "Propose"), (3, "Close")];
const LEAD_SOURCE: &[(i32, &str)] = &[
    (1, "Advertisement"),
    (2, "Employee Referral"),
    (3, "External Referral"),
    (4, "Partner"),
    (5, "Public Relations"),
    (6, "Seminar"),
    (7, "Trade Show"),
    (8, "Web"),
    (9, "Word of Mouth"),
    (10, "Other"),
];
const RATING: &[(i32, &str)] = &[(1, "Hot"), (2, "Warm"), (3, "Cold")];
const CONTACT_METHOD: &[(i32, &str)] =
    &[(1, "Any"), (2, "Email"), (3, "Phone"), (4, "Fax"), (5, "Mail")];
const GENDER: &[(i32, &str)] = &[(1, "Male"), (2, "Female")];

/// The tables whose changes the generator audits (all exist in the activity world).
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "account",
        display: "Account",
        weight: 30,
        columns: &[
            c("name", 2, Primary),
            c("accountnumber", 5, Code),
            c("telephone1", 8, Phone),
            c("emailaddress1", 11, Email),
            c("address1_city", 24, City),
            c("industrycode", 35, Choice(INDUSTRY)),
            c("revenue", 41, Money(10_000, 50_000_000)),
            c("numberofemployees", 43, Int(1, 20_000)),
            c("creditonhold", 47, Bool),
            c("primarycontactid", 52, Lookup("contact")),
            c("description", 60, Memo),
            c("ownerid", 80, Owner),
        ],
    },
    Table {
        name: "contact",
        display: "Contact",
        weight: 28,
        columns: &[
            c("firstname", 3, FirstName),
            c("lastname", 4, LastName),
            c("jobtitle", 7, JobTitle),
            c("emailaddress1", 11, Email),
            c("telephone1", 12, Phone),
            c("address1_city", 24, City),
            c("gendercode", 30, Choice(GENDER)),
            c("preferredcontactmethodcode", 31, Choice(CONTACT_METHOD)),
            c("creditlimit", 40, Money(0, 250_000)),
            c("birthdate", 45, Date),
            c("donotemail", 47, Bool),
            c("parentcustomerid", 52, Lookup("account")),
            c("ownerid", 80, Owner),
        ],
    },
    Table {
        name: "lead",
        display: "Lead",
        weight: 10,
        columns: &[
            c("subject", 2, Primary),
            c("firstname", 3, FirstName),
            c("lastname", 4, LastName),
            c("companyname", 6, Company),
            c("emailaddress1", 11, Email),
            c("leadsourcecode", 33, Choice(LEAD_SOURCE)),
            c("leadqualitycode", 34, Choice(RATING)),
            c("estimatedamount", 41, Money(1_000, 2_000_000)),
            c("ownerid", 80, Owner),
        ],
    },
    Table {
        name: "opportunity",
        display: "Opportunity",
        weight: 12,
        columns: &[
            c("name", 2, Primary),
            c("estimatedvalue", 41, Money(1_000, 5_000_000)),
            c("estimatedclosedate", 45, Date),
            c("closeprobability", 43, Int(0, 100)),
            c("salesstage", 36, Choice(SALES_STAGE)),
            c("opportunityratingcode", 34, Choice(RATING)),
            c("customerid", 52, Lookup("account")),
            c("parentcontactid", 53, Lookup("contact")),
            c("description", 60, Memo),
            c("ownerid", 80, Owner),
        ],
    },
    Table {
        name: "incident",
        display: "Case",
        weight: 14,
        columns: &[
            c("title", 2, Primary),
            c("ticketnumber", 5, Code),
            c("prioritycode", 33, Choice(PRIORITY)),
            c("casetypecode", 34, Choice(CASE_TYPE)),
            c("caseorigincode", 35, Choice(CASE_ORIGIN)),
            c("customerid", 52, Lookup("account")),
            c("primarycontactid", 53, Lookup("contact")),
            c("description", 60, Memo),
            c("ownerid", 80, Owner),
        ],
    },
];

/// The organization row's audited setting that "Audit Change at Org Level" rows (104) change.
pub(crate) const RETENTION_COLUMN: Column = c("auditretentionperiodv2", 301, Int(-1, 365_000));

/// Display names of the other tables audit rows point at.
pub(crate) fn display_name(table: &str) -> &str {
    if let Some(t) = TABLES.iter().find(|t| t.name == table) {
        return t.display;
    }
    match table {
        "systemuser" => "User",
        "role" => "Security Role",
        "organization" => "Organization",
        "entity" => "Entity",
        "team" => "Team",
        other => other,
    }
}

/// The label of an `action` value (reference §5.2; only the values the emulator emits and the
/// common row events are listed, others show as their number).
pub(crate) fn action_label(action: i32) -> String {
    let label = match action {
        0 => "Unknown",
        1 => "Create",
        2 => "Update",
        3 => "Delete",
        4 => "Activate",
        5 => "Deactivate",
        13 => "Assign",
        14 => "Share",
        33 => "Associate Entities",
        34 => "Disassociate Entities",
        48 => "Modify Share",
        49 => "Unshare",
        55 => "Assign Role To User",
        56 => "Remove Role From User",
        57 => "Add Privileges to Role",
        58 => "Remove Privileges From Role",
        59 => "Replace Privileges In Role",
        64 => "User Access via Web",
        65 => "User Access via Web Services",
        102 => "Audit Change at Entity Level",
        103 => "Audit Change at Attribute Level",
        104 => "Audit Change at Org Level",
        111 => "Audit Log Deletion",
        other => return other.to_string(),
    };
    label.to_owned()
}

/// The label of an `operation` value.
pub(crate) fn operation_label(operation: i32) -> String {
    match operation {
        1 => "Create".to_owned(),
        2 => "Update".to_owned(),
        3 => "Delete".to_owned(),
        4 => "Access".to_owned(),
        5 => "Upsert".to_owned(),
        other => other.to_string(),
    }
}

/// Privileges a security role may hold (names of real Dataverse privileges; the GUIDs are the
/// emulator's, stable per name).
pub(crate) const PRIVILEGES: &[&str] = &[
    "prvReadAccount",
    "prvWriteAccount",
    "prvCreateAccount",
    "prvDeleteAccount",
    "prvReadContact",
    "prvWriteContact",
    "prvCreateContact",
    "prvReadLead",
    "prvWriteLead",
    "prvReadOpportunity",
    "prvWriteOpportunity",
    "prvReadIncident",
    "prvWriteIncident",
    "prvReadAuditSummary",
    "prvReadRecordAuditHistory",
    "prvExportToExcel",
];

/// Depths of a role privilege.
pub(crate) const DEPTHS: &[&str] = &["Basic", "Local", "Deep", "Global"];

/// Access rights a share grants (`AccessRights` flags as Dataverse words them).
pub(crate) const ACCESS_MASKS: &[&str] = &[
    "ReadAccess",
    "ReadAccess, WriteAccess",
    "ReadAccess, ShareAccess",
    "ReadAccess, WriteAccess, AppendAccess, AppendToAccess",
];

/// N:N relationships the people associate records through: (left table, right table, name).
pub(crate) const RELATIONSHIPS: &[(&str, &str, &str)] = &[
    ("account", "lead", "accountleads_association"),
    ("contact", "lead", "contactleads_association"),
];
