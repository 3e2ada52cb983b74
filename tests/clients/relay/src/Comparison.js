// Side-by-side comparison of up to 10 runs, with the config parameters that differ.
import { graphql } from 'react-relay';

export const comparisonQuery = graphql`
  query ComparisonQuery($ids: [ID!]!) {
    compareBacktestRuns(ids: $ids) {
      runs {
        id
        ...RunRow_run
      }
      missingIds
      configDifferences {
        path
        values
      }
    }
  }
`;
