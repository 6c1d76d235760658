use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::model::from_item;
use crate::ports::{Query, Table};
use crate::services::Error;

/// One page of `query`, each item read as a `T`, with the cursor of the next.
pub async fn fetch<T: DeserializeOwned>(
    table: &dyn Table,
    query: &Query,
) -> Result<PageOf<T>, Error> {
    let page = table.query(query).await?;
    Ok(PageOf {
        items: page
            .items
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?,
        next_cursor: page.cursor,
    })
}

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// `?limit=&cursor=` of every list route.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "crate::domain::bounds::cursor_param")]
    #[param(max_length = 2048)]
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<usize, Error> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(Error::Invalid(format!(
                "invalid limit {n}: use a number from 1 to {MAX_LIMIT}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    /// Present when more items follow: pass it as `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
