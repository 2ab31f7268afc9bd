//! Id newtypes. Every id is a UUIDv7 so ids sort by creation time, but the domain never makes
//! one from the clock or a random source: callers pass the millisecond and the random bits in.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A UUIDv7 from a Unix time in milliseconds and 10 bytes of randomness the caller drew.
            pub fn from_parts(unix_ms: u64, random: [u8; 10]) -> Self {
                Self(uuid::Builder::from_unix_timestamp_millis(unix_ms, &random).into_uuid())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_newtype!(/// One issue, from intake to close, across every channel (一单到底).
    IssueId);
id_newtype!(/// One visit to a courtyard.
    VisitId);
id_newtype!(/// One immutable event.
    EventId);
id_newtype!(/// One enrolled tablet.
    DeviceId);
id_newtype!(/// One worker: grid worker, cadre, supervisor, department staff or admin.
    WorkerId);
id_newtype!(/// A courtyard / grid cell / village lane (楼院 / 网格 / 村巷).
    CourtyardId);
id_newtype!(/// A community or village (社区 / 村).
    CommunityId);
id_newtype!(/// A subdistrict or township (街乡).
    SubdistrictId);
id_newtype!(/// A management grid (管理网格).
    ManagementGridId);
id_newtype!(/// A technical grid (技术网格).
    TechnicalGridId);
