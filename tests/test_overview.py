"""The Core readers' lightweight tables agree with the models they stand in for."""

from __future__ import annotations

import pytest
from sqlalchemy import TableClause

from newsletter.storage import tables
from newsletter.storage.models import Base


@pytest.mark.parametrize("light", tables.ALL, ids=lambda t: t.name)
def test_each_column_is_the_models_column(light: TableClause) -> None:
    model = Base.metadata.tables[light.name]
    for column in light.c:
        assert column.name in model.c, f"{light.name}.{column.name} is not in the models"
        real = model.c[column.name].type
        # An enum or text column reads as the string it is stored as.
        assert isinstance(real, type(column.type)), (light.name, column.name, real)


def test_every_table_the_readers_name_is_listed() -> None:
    named = {
        value.name
        for value in vars(tables).values()
        if hasattr(value, "c") and hasattr(value, "name")
    }
    assert named == {t.name for t in tables.ALL}
