/** SIP users of the user store (GET /api/users): read by every role, changed by admins (CLI or API). */
import type { UserView } from '../types.ts';
import { Failure, PageHeader, time, useResource } from '../util.tsx';

export function Users() {
  const loaded = useResource<{ users: UserView[]; total: number }>('/api/users?limit=500');
  const users = loaded.data?.users ?? [];
  return (
    <section>
      <PageHeader title="SIP users" />
      <Failure loaded={loaded} absent="This gateway has no user store." />
      {loaded.data === undefined ? null : (
        <>
          <h2>{loaded.data.total} users</h2>
          <table data-testid="users">
            <thead>
              <tr>
                <th>user</th>
                <th>domain</th>
                <th>groups</th>
                <th>roles</th>
                <th>enabled</th>
                <th>created</th>
              </tr>
            </thead>
            <tbody>
              {users.map((user) => (
                <tr key={`${user.user}@${user.domain}`}>
                  <td>{user.user}</td>
                  <td>{user.domain}</td>
                  <td>{user.groups.join(', ')}</td>
                  <td>{user.roles.join(', ')}</td>
                  <td>{user.enabled ? 'yes' : 'no'}</td>
                  <td class="nowrap">{time(user.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
