// A run's detail page: the run by id, with its config, metrics and lineage.
import { graphql } from 'react-relay';

export const runDetailQuery = graphql`
  query RunDetailQuery($id: ID!) {
    backtestRun(id: $id) {
      ...RunDetail_run
    }
  }
`;

export const runDetailFragment = graphql`
  fragment RunDetail_run on BacktestRun {
    id
    createdAt
    completedAt
    durationSeconds
    status
    strategyName
    strategyType
    instrumentSymbol
    dateRangeStart
    dateRangeEnd
    initialCapital
    dataSource
    config
    errorMessage
    originalRun {
      id
      strategyName
    }
    metrics {
      totalReturn
      cagr
      sharpeRatio
      sortinoRatio
      maxDrawdown
      volatility
      totalTrades
      winRate
      profitFactor
    }
  }
`;
