"""The independent naive oracle of the KPI contract, its input generator and comparison."""
