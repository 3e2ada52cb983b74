// A dashboard's runs list: a paginated connection (first/after), filtered by strategy,
// each row a RunRow fragment. Only compiled (relay-compiler --validate), never run.
import { graphql } from 'react-relay';

export const runsListQuery = graphql`
  query RunsListQuery($strategy: String, $count: Int = 20) {
    ...RunsList_query @arguments(strategy: $strategy, count: $count)
  }
`;

export const runsListFragment = graphql`
  fragment RunsList_query on Query
  @refetchable(queryName: "RunsListPaginationQuery")
  @argumentDefinitions(
    strategy: { type: "String" }
    count: { type: "Int", defaultValue: 20 }
    cursor: { type: "String" }
  ) {
    backtestRuns(first: $count, after: $cursor, filter: { strategyName: $strategy })
      @connection(key: "RunsList_backtestRuns") {
      totalCount
      edges {
        node {
          id
          ...RunRow_run
        }
      }
    }
  }
`;

export const runRowFragment = graphql`
  fragment RunRow_run on BacktestRun {
    createdAt
    status
    strategyName
    instrumentSymbol
    metrics {
      totalReturn
      sharpeRatio
      maxDrawdown
    }
  }
`;
